"""Checks packaging/Containerfile for what the README promises of the image: a multi-stage build
from the locked sources, a runtime stage that runs the daemon as a non-root user with its state
on a volume and /livez as its health check, and no secret baked in. Exits 1 naming each breach."""
import re
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "packaging/Containerfile"
lines = []
for raw in open(path, encoding="utf-8").read().replace("\\\n", " ").splitlines():
    raw = raw.strip()
    if raw and not raw.startswith("#"):
        word, _, rest = raw.partition(" ")
        lines.append((word.upper(), rest.strip()))

stages = [i for i, (word, _) in enumerate(lines) if word == "FROM"]
final = lines[stages[-1]:] if stages else []
problems = []
if len(stages) < 2:
    problems.append("not a multi-stage build: the runtime image must not hold the toolchain")
if not any(word == "COPY" and "--from=" in rest for word, rest in final):
    problems.append("the runtime stage copies nothing from the build stage")
users = [rest for word, rest in final if word == "USER"]
if not users or users[-1].split(":")[0] in ("root", "0"):
    problems.append("the runtime stage must end as a non-root USER")
if not any(word == "VOLUME" and "/var/lib/flexsync" in rest for word, rest in final):
    problems.append("the state folder /var/lib/flexsync must be a VOLUME")
if not any(word == "HEALTHCHECK" and "/livez" in rest for word, rest in final):
    problems.append("the HEALTHCHECK must probe /livez (a refused run must not restart it)")
if not any(word == "CMD" and "daemon" in rest for word, rest in final):
    problems.append("the command must be the daemon")
for word, rest in lines:
    if word in ("ENV", "ARG") and re.search(r"(?i)password|token|secret", rest):
        problems.append(f"{word} {rest}: secrets are mounted at run time, never baked in")
    if word == "RUN" and "--locked" not in rest and "cargo build" in rest:
        problems.append("cargo builds in the image must use --locked")
build_scripts = [rest for word, rest in lines if word == "RUN" and "build-release.sh" in rest]
if not build_scripts:
    problems.append("the build stage must build through packaging/build-release.sh (CI runs it)")

for problem in problems:
    print(f"{path}: {problem}", file=sys.stderr)
print(f"{path}: {len(stages)} stages, {len(lines)} instructions, {len(problems)} problems")
sys.exit(1 if problems else 0)
