"""Rules of the API that OpenAPI cannot state, for schemathesis's positive-data check.

Everything the server checks that a schema keyword can express is declared in the contract;
what remains is listed here, each with why, so that the check fails on anything else:

- values the server issues and a client cannot make up (cursors, versions, idempotency keys)
  are removed or made fresh before a positive request is sent, so the rest of it is tested;
- rules across fields and rows (an existing client, `from` before `to`, a valid phone number)
  may still refuse a schema-valid request: such a refusal is dropped only when every error it
  names is one of those rules (or, for a problem without `errors`, its `detail` is);
- a query value a stateful link carried into a parameter of another type is dropped.
"""

import re
import uuid

import schemathesis

# Query parameters holding a token the server issued (a made-up one is refused with 400).
ISSUED_QUERY = ("cursor", "since")

# Pairs of query bounds where the first may not be above the second.
ORDERED_QUERY = (
    ("from", "to"),
    ("a", "b"),
    ("x", "y"),
    ("max_share", "high_share"),
    ("amount_min", "amount_max"),
)

# (field path, message) patterns of rules no schema keyword expresses.
UNSTATABLE = [
    # Rows that must exist and be visible to the caller.
    (r".*", r"^no such "),
    (r".*", r"^is not (a|an) .*(you can see|active|of this|in this)"),
    (r".*", r"not synced yet"),
    (r".*", r"^is not a (user|segment)$"),
    (r"^(defaults\.)?channel$", r"^'.*' is not an active channel"),
    (r"^(filter|conditions\.client_filter)\.channel\[\d+\]$", r"^'.*' is not a channel$"),
    (r"^provider$", r"^(there is no webhook named|webhook '.*' is not configured as a mailing provider)"),
    (r"^completed_activity_id$", r"^is not an activity of the task's client$"),
    (r"^deal_id$", r"^is a deal of another client$"),
    # Values another row holds already.
    (r"^external_ids\..*$", r"^is already used by "),
    # Values checked against a registry or a checksum.
    (r".*(phone|phones)(\[\d+\])?(\.number)?$", r"phone"),
    (r"^(from|to)$", r"phone"),  # a call's numbers
    (r".*inn$", r"(INN|checksum|check digit)"),
    (r".*", r"^is not a valid (phone|e-?mail)"),
    (r"^trigger\.time_zone$", r"is not an IANA time zone"),
    # Outbound URLs are resolved and their addresses checked (SSRF guard).
    (r".*url$", r"(resolve|address|not allowed|private|loopback|special)"),
    # The base currency is the server's setting.
    (r"^currency$", r"^sales are kept in [A-Z]{3}$"),
    # Rules across fields of one body (or of the body and the path).
    (r".*", r"^(is required|applies|only|must be set) (when|to|for|with)"),
    (r".*", r"must not be (after|before|above|below) "),
    (r"^(filter|conditions\.client_filter)\.revenue_min$", r"^must not exceed revenue_max$"),
    (r"^conditions\.deal\.amount_min$", r"^must not exceed amount_max$"),
    (r"^(filter|conditions\.client_filter)\.last_purchase_after$", r"^must be before last_purchase_before$"),
    (r"^to_user_id$", r"^must differ from from_user_id$"),
    (r"^duplicate_id$", r"^a client cannot be merged into itself$"),
    (r"^audience$", r"^give either segment_id or client_ids$"),
    (r"^lost_reason$", r"^is only kept for lost (clients|deals)$"),
    (r"^margin$", r"^must equal amount − cost"),
    (r"^trigger\.dates$", r"^a yearly schedule lists its dates$"),
    # Query bounds ordered against a default when only one of them is sent (ORDERED_QUERY
    # orders the pairs sent together).
    (r"^x$", r"^must not exceed y$"),
    (r"^a$", r"^must not exceed b$"),
    (r"^max_share$", r"^must not exceed high_share$"),
    # A pipeline needs a stage of each kind (JSON Schema `contains`, which utoipa cannot
    # declare); a reorder lists the pipeline's stages as they are.
    (r"^stages$", r"^needs at least one (open|won|lost) stage$"),
    (r"^stage_ids$", r"^must list every stage of the pipeline exactly once$"),
    # Custom field values follow the definitions stored at the time (which keys exist, their
    # type, options, required, unique, filterable), which the contract's free-form object
    # cannot know.
    (r"^custom_fields\..*$", r".*"),
    (r"^(filter|conditions\.client_filter)\.custom_fields\..*$", r".*"),
    # Custom field definitions: what options and uniqueness allow depends on the field's type
    # (stored, for a change), and on the values records already hold.
    (r"^options$", r"^(only select and multiselect fields have options|a select field needs at least one option)$"),
    (r"^options$", r"^option '.*' is held by \d+ records"),
    (r"^options\[\d+\]\.code$", r"^appears twice$"),
    # A team lists each member once (JSON Schema `uniqueItems`, which utoipa cannot declare here).
    (r"^members\[\d+\]$", r"^appears twice$"),
    (r"^unique$", r"^(a \w+ field cannot be unique|records already share values)"),
    # Automations: the trigger's subjects decide which assignees and placeholders have values.
    (r"^actions\[\d+\]\.assignee$", r"^(deal_owner needs deal subjects|call_user needs call\.\* events)$"),
    (r"^actions\[\d+\]\.(title|description)$", r"^\{\{.*\}\} (is not a placeholder|has no value for this automation's subjects)$"),
    # An import's settings name the columns of its file and fit the entity it imports (both
    # stored with the upload).
    (r"^mapping\..*$", r"^(the file has no such column|'.*' is not a \w+ field|'.*' is not a defined \w+ custom field|'.*' is mapped from two columns|a sale has one external id column)"),
    (r"^mapping$", r"^(map a column to |maps no column to a field$)"),
    (r"^match_on$", r"^at least one way to (match a card is needed to update|find each row's client is needed)$"),
    (r"^defaults$", r"^defaults apply to new clients"),
    # An import's default owner names a user of the base by email or name.
    (r"^defaults\.owner$", r"^'.*' is not an active user's email or name$"),
    (r"^mode$", r"^updating sales needs"),
    (r"^values\..*$", r"^('.*' is not a defined \w+ custom field|value maps of \w+ are kept for custom_fields)"),
    (r"^values\.[a-z_]+\..*$", r"^'.*' is not a [a-z_]+ value$"),
]

# Whole-body rules that a problem document without `errors` names in its `detail`: the
# content of an uploaded spreadsheet, which no schema of a binary or text body describes.
UNSTATABLE_DETAIL = [
    r"^the file is (neither CSV nor XLSX|not a readable XLSX workbook|a password-protected workbook)",
    r"^the CSV cannot be read",
    r"^the (workbook has no sheets|sheet is empty|file has a header but no rows)",
    r"^the header row names the column '.*' twice$",
    r"^column \d+ of the header row has no title$",
]


def _positive(case) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


@schemathesis.hook
def before_call(ctx, case, kwargs):
    if not _positive(case):
        return
    if case.headers:
        # A version the server did not issue is stale by definition (412).
        case.headers.pop("If-Match", None)
        # A key may serve one request only; a repeated made-up one is refused (422).
        if "Idempotency-Key" in case.headers:
            case.headers["Idempotency-Key"] = str(uuid.uuid4())
    if case.query:
        _drop_mistyped_integers(case)
        for name in ISSUED_QUERY:
            case.query.pop(name, None)
        for low, high in ORDERED_QUERY:
            a, b = case.query.get(low), case.query.get(high)
            if a is not None and b is not None and _above(a, b):
                case.query[low], case.query[high] = b, a


def _drop_mistyped_integers(case) -> None:
    """Links the stateful phase infers by name may carry a value of another type: an API
    client's `client_id` (text) into the `client_id` (a client's integer id) of a list."""
    for parameter in case.operation.query:
        kind = (parameter.definition.get("schema") or {}).get("type")
        kinds = kind if isinstance(kind, list) else [kind]
        value = case.query.get(parameter.name)
        if "integer" in kinds and isinstance(value, str) and not re.fullmatch(r"-?[0-9]+", value):
            case.query.pop(parameter.name)


def _above(a, b) -> bool:
    try:
        return float(a) > float(b)
    except (TypeError, ValueError):
        return str(a) > str(b)


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    """Keep every failure except a positive-data rejection that only cites unstatable rules."""
    if "positive_data_acceptance" not in getattr(failure, "checks", ()):
        return True
    if response.status_code not in (400, 422):
        return True
    try:
        problem = response.json()
    except ValueError:
        return True
    errors = problem.get("errors") or []
    if not errors:
        detail = problem.get("detail") or ""
        return not any(re.search(d, detail) for d in UNSTATABLE_DETAIL)
    return not all(_unstatable(e.get("field", ""), e.get("message", "")) for e in errors)


def _unstatable(field: str, message: str) -> bool:
    # Field paths hold the keys of objects (custom fields, mappings) and messages quote values,
    # either of which may hold newlines.
    return any(re.fullmatch(f, field, re.DOTALL) and re.search(m, message, re.DOTALL) for f, m in UNSTATABLE)
