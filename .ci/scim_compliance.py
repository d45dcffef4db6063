"""Runs scim2-tester (PyPI), a third party's RFC 7643/7644 compliance suite, against a SCIM server.

Usage: python .ci/scim_compliance.py URL TOKEN [--label NAME] [--verbose] [--raw]

URL is the SCIM root (e.g. http://127.0.0.1:8082/api/scim). Prints one line per check that is
not a pass (with --verbose, every check), then the counts by status, and exits 1 when any check
ends in DEVIATION, ERROR or CRITICAL (2 when the suite itself could not run).

Two gaps of scim2-tester 0.5.2 are corrected here unless --raw is given (each makes the suite
fail on any server, scim2-server included; docs/scim-differences.md has the details):
- its random filler cannot fill a `dateTime` attribute (fill_date_times);
- after a PATCH `add` to a multi-valued attribute that an earlier `add` of the same check already
  filled, it expects only the new values, while RFC 7644 section 3.5.2.1 says they are added to
  the old ones (compare_added_values).
The number of verdicts each correction changed is printed.

scim2-tester 0.5.2 has no check of `/Bulk`. When the server advertises bulk support, this driver
adds its own (titles starting with `bulk_`): it sends bulk requests with scim2-client, which
validates each answer against scim2-models' BulkResponse, and checks bulkId references,
failOnErrors, and 413 past maxOperations and maxPayloadSize (RFC 7644 section 3.7).
"""

import argparse
import collections
import datetime
import random
import sys

CORRECTIONS = collections.Counter()

FAILING = ("DEVIATION", "ERROR", "CRITICAL")
PASSING = ("SUCCESS", "COMPLIANT", "ACCEPTABLE")


def fill_date_times() -> None:
    """Teaches scim2-tester (0.5.2) to fill `dateTime` attributes.

    Its random filler has no branch for `dateTime` and falls back to a UUID string, which its own
    models refuse on assignment, so every check that fills such an attribute (here the
    Winningtemp user extension's dates) fails inside the tester before any request is sent, on
    any server (scim2-server with our schemas too). This wraps the filler: a `dateTime` path gets
    a random whole-second UTC instant; every other path is left to the tester.
    """
    from scim2_tester import filling
    from scim2_tester.checkers import patch_add, patch_replace

    original = filling.generate_random_value

    def generate(context, path, mutability=None, required=None):
        binding = path.resolve()
        if binding is None or binding.target_type is not datetime.datetime:
            return original(context, path, mutability=mutability, required=required)
        if mutability is not None and binding.get_annotation(filling.Mutability) not in mutability:
            return None
        if required is not None and binding.get_annotation(filling.Required) not in required:
            return None
        start = datetime.datetime(1950, 1, 1, tzinfo=datetime.timezone.utc)
        value = start + datetime.timedelta(seconds=random.randrange(0, 80 * 365 * 86400))
        return [value] if binding.target_is_multivalued else value

    for module in (filling, patch_add, patch_replace):
        module.generate_random_value = generate


def compare_added_values() -> None:
    """After a PATCH `add`, accepts a multi-valued attribute that holds the added values and more.

    RFC 7644 section 3.5.2.1: "If the target location specifies a multi-valued attribute, ...
    the values are added". The add check of scim2-tester (0.5.2) patches one resource path after
    path: the extension as a whole first (which fills its multi-valued attributes), then each
    attribute, whose new values are then compared with the whole attribute. An exact match still
    passes; only a list that holds every added value besides earlier ones is let through here.
    """
    from pydantic import BaseModel
    from scim2_tester.checkers import patch_add

    original = patch_add.fields_equality

    def dump(value):
        return value.model_dump() if isinstance(value, BaseModel) else value

    def added(expected, actual):
        if original(expected, actual):
            return True
        if isinstance(expected, list) and isinstance(actual, list) and expected:
            held = [dump(item) for item in actual]
            if all(dump(item) in held for item in expected):
                CORRECTIONS["add to a multi-valued attribute kept its earlier values"] += 1
                return True
        return False

    patch_add.fields_equality = added


USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def check_bulk(http, client_class):
    """The driver's own bulk checks: a list of (status name, title, reason)."""
    import uuid

    client = client_class(http)
    try:
        client.discover()
    except Exception as error:  # noqa: BLE001 - reported as the check's verdict
        return [("ERROR", "bulk", f"discovery failed: {type(error).__name__}: {error}")]
    bulk = client.provider.config.bulk if client.provider.config else None
    if not bulk or not bulk.supported:
        return [("SKIPPED", "bulk", "the server does not advertise bulk support")]
    results = []

    def run(title, check):
        try:
            failure = check()
        except Exception as error:  # noqa: BLE001 - any failure is the check's verdict
            failure = f"{type(error).__name__}: {error}"
        results.append(("ERROR", title, failure) if failure else ("SUCCESS", title, "ok"))

    def post_bulk(operations, **extra):
        body = {"schemas": [BULK_REQUEST], "Operations": operations, **extra}
        return client.bulk(body, check_request_payload=False)

    def user_op(bulk_id):
        name = f"bulk-{uuid.uuid4()}"
        return {"method": "POST", "path": "/Users", "bulkId": bulk_id,
                "data": {"schemas": [USER], "userName": name}}

    def delete(location):
        http.delete(location)

    def references():
        group = {"method": "POST", "path": "/Groups", "bulkId": "g",
                 "data": {"schemas": [GROUP], "displayName": f"bulk-{uuid.uuid4()}",
                          "members": [{"value": "bulkId:u"}]}}
        answer = post_bulk([group, user_op("u")])
        ops = answer.operations or []
        try:
            if [op.status for op in ops] != [201, 201]:
                return f"statuses {[op.status for op in ops]}, expected [201, 201]"
            if [op.bulk_id for op in ops] != ["g", "u"]:
                return f"bulkIds {[op.bulk_id for op in ops]} not in the request's order"
            user_id = ops[1].location.rstrip("/").rsplit("/", 1)[-1]
            members = http.get(ops[0].location).json().get("members", [])
            if [m.get("value") for m in members] != [user_id]:
                return f"group members {members}, expected the new user {user_id}"
        finally:
            for op in reversed(ops):
                if op.location:
                    delete(op.location)
        return None

    def fail_on_errors():
        missing = {"method": "DELETE", "path": f"/Users/{uuid.uuid4()}"}
        answer = post_bulk([missing, user_op("late")], failOnErrors=1)
        ops = answer.operations or []
        for op in ops:
            if op.status == 201 and op.location:
                delete(op.location)
        if [op.status for op in ops] != [404]:
            return f"statuses {[op.status for op in ops]}, expected [404] then a stop"
        return None

    def too_many():
        ops = [{"method": "DELETE", "path": f"/Users/{uuid.uuid4()}"}
               for _ in range(bulk.max_operations + 1)]
        body = {"schemas": [BULK_REQUEST], "Operations": ops}
        response = http.post("Bulk", json=body)
        if response.status_code != 413:
            return f"{bulk.max_operations + 1} operations answered {response.status_code}"
        return None

    def too_large():
        op = user_op("big")
        op["data"]["displayName"] = "x" * (bulk.max_payload_size + 1)
        body = {"schemas": [BULK_REQUEST], "Operations": [op]}
        response = http.post("Bulk", json=body)
        if response.status_code != 413:
            return f"a body over maxPayloadSize answered {response.status_code}"
        return None

    run("bulk_bulk_id_references", references)
    run("bulk_fail_on_errors", fail_on_errors)
    if bulk.max_operations:
        run("bulk_max_operations", too_many)
    if bulk.max_payload_size:
        run("bulk_max_payload_size", too_large)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the SCIM root, without a trailing slash")
    parser.add_argument("token", help="the bearer token")
    parser.add_argument("--label", default="", help="a name for the server in the summary")
    parser.add_argument("--verbose", action="store_true", help="print every check")
    parser.add_argument("--raw", action="store_true", help="run scim2-tester uncorrected")
    args = parser.parse_args()

    try:
        import httpx2
        from scim2_client.engines.httpx2 import SyncSCIMClient
        from scim2_tester import check_server
    except ImportError as error:
        print(f"scim2-tester is not installed ({error}); run .ci/test", file=sys.stderr)
        return 2
    if not args.raw:
        fill_date_times()
        compare_added_values()

    http = httpx2.Client(
        base_url=args.url.rstrip("/") + "/",
        headers={"Authorization": f"Bearer {args.token}"},
        timeout=30.0,
    )
    with http:
        results = check_server(SyncSCIMClient(http))
        own = check_bulk(http, SyncSCIMClient)

    counts = collections.Counter(result.status.name for result in results)
    for result in results:
        status = result.status.name
        if args.verbose or status in FAILING:
            where = f"{result.resource_type} " if result.resource_type else ""
            print(f"{status:<10} {where}{result.title}: {result.reason}")
            if status in FAILING and result.data is not None:
                print(f"           data: {str(result.data)[:600]}")

    for status, title, reason in own:
        counts[status] += 1
        if args.verbose or status in FAILING:
            print(f"{status:<10} {title}: {reason}")
    for why, times in sorted(CORRECTIONS.items()):
        print(f"tester correction applied {times}x: {why}")
    failed = sum(counts[name] for name in FAILING)
    passed = sum(counts[name] for name in PASSING)
    label = f"{args.label}: " if args.label else ""
    detail = ", ".join(f"{name.lower()} {counts[name]}" for name in sorted(counts))
    print(f"scim2-tester {label}{detail}")
    # The plain closing line CI reads.
    print(f"{passed} passed, {failed} failed, {counts['SKIPPED']} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
