"""What a healthy log keeps: each invariant of the wire format as a name, what it means, and the SQL
condition (over the `sessions` view) that a row breaking it meets."""

# A call's iteration numbers, in the order logged; and one hash of every key the format defines.
_ITERATIONS = "list_transform(attempts, lambda a: a.iteration)"
# The artifact as its leaves in path order: two copies of a row whose producers wrote its
# keys in another order are the same row (JSON objects have no order).
_ARTIFACT = "(select list([fullkey, type, atom::varchar] order by fullkey) from json_tree(artifact))"
_ROW_HASH = (
    "hash(schema, timestamp_raw, daemon, session_id, kind, model, provider, prompt, iterations, "
    f"max_iterations, final_verdict, attempts, {_ARTIFACT}, grounded_in_roster_raw, duration_ms)"
)

# Each check: a name, what it means, and the SQL condition (over `sessions`) that breaks it.
INVARIANTS = (
    (
        "iterations_mismatch",
        "`iterations` differs from the attempts that reached the model",
        "iterations is distinct from len(list_filter(attempts, lambda a: a.verdict_kind <> 'infra_error'))",
    ),
    (
        "verdict_vs_last_attempt",
        "`final_verdict` does not match the last attempt",
        """not coalesce(case final_verdict
            when 'accepted' then attempts[-1].verdict_kind = 'accepted'
            when 'infra_error' then attempts[-1].verdict_kind = 'infra_error'
            when 'max_iter_exhausted' then attempts[-1].verdict_kind in ('validation_failed', 'no_json')
                and len(list_filter(attempts, lambda a: a.verdict_kind = 'accepted')) = 0
        end, false)""",
    ),
    (
        "artifact_iff_accepted",
        "`artifact` present on a row that was not accepted, or missing on one that was",
        # A missing verdict is no acceptance: an artifact beside it breaks the rule too.
        "(artifact is not null) <> coalesce(final_verdict = 'accepted', false)",
    ),
    (
        "unknown_verdict_kind",
        "an attempt's `verdict_kind` is not one the format knows",
        "len(list_filter(attempts, lambda a: a.verdict_kind is null or a.verdict_kind not in "
        "('accepted', 'validation_failed', 'no_json', 'infra_error'))) > 0",
    ),
    ("empty_session_id", "`session_id` is missing or empty", "coalesce(session_id, '') = ''"),
    (
        "roster_verdict_not_boolean",
        "`grounded_in_roster` is present but not a JSON boolean",
        "grounded_in_roster_raw is not null and grounded_in_roster is null",
    ),
    (
        "roster_verdict_not_accepted",
        "`grounded_in_roster` on a row that was not accepted",
        "grounded_in_roster is not null and final_verdict is distinct from 'accepted'",
    ),
    ("bad_timestamp", "`timestamp` is missing or not RFC 3339", '"timestamp" is null'),
    (
        "future_timestamp",
        "`timestamp` more than 5 minutes ahead of this machine's clock",
        '"timestamp" > get_current_timestamp() + interval 5 minute',
    ),
    (
        "ungrounded_accepted",
        "an accepted row names someone not on the roster (`grounded_in_roster` false)",
        "final_verdict = 'accepted' and grounded_in_roster = false",
    ),
    ("unknown_schema", "`schema` is not session.iterate.v1", "schema is distinct from 'session.iterate.v1'"),
    # The rules the figures' definitions lean on (docs/SESSION_LOG.md, "What the figures mean").
    (
        "repeated_iteration",
        "an iteration number appears on more than one of a call's attempts",
        f"len(list_filter(attempts, lambda a: a.iteration is not null)) > len(list_distinct({_ITERATIONS}))",
    ),
    (
        "missing_iteration",
        "an attempt has no `iteration`, or the numbers skip one (they run 0, 1, 2, ...)",
        f"""list_bool_or(list_transform(attempts, lambda a: a.iteration is null))
        or list_sort(list_distinct({_ITERATIONS})) <> range(len(list_distinct({_ITERATIONS})))""",
    ),
    (
        "attempts_out_of_order",
        "`attempts` is not in the order of its iteration numbers",
        f"list_filter({_ITERATIONS}, lambda i: i is not null) "
        f"<> list_sort(list_filter({_ITERATIONS}, lambda i: i is not null))",
    ),
    (
        "several_accepted",
        "more than one attempt is `accepted`",
        "len(list_filter(attempts, lambda a: a.verdict_kind = 'accepted')) > 1",
    ),
    (
        "accepted_not_last",
        "an `accepted` attempt is not the call's last (by iteration, then position)",
        "list_position(list_transform(attempts_in_order(attempts), lambda a: a.verdict_kind), 'accepted')"
        " < len(attempts)",
    ),
    (
        "accepted_attempt_not_accepted_call",
        "an `accepted` attempt on a call whose `final_verdict` is not `accepted`",
        "final_verdict is distinct from 'accepted' "
        "and list_bool_or(list_transform(attempts, lambda a: a.verdict_kind = 'accepted'))",
    ),
    (
        "infra_error_attempts",
        "an `infra_error` call without exactly one attempt",
        "final_verdict = 'infra_error' and coalesce(len(attempts), 0) <> 1",
    ),
    (
        "unknown_final_verdict",
        "`final_verdict` is missing or unknown: the call is not counted as reaching the model",
        "final_verdict is null or final_verdict not in ('accepted', 'max_iter_exhausted', 'infra_error')",
    ),
    (
        "duplicate_row",
        "a row logged more than once, equal in every key the format defines "
        "(every copy is listed; every figure counts each copy)",
        f"{_ROW_HASH} in (select {_ROW_HASH} from sessions group by 1 having count(*) > 1)",
    ),
)
