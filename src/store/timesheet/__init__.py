"""Commands on time entries: create (log), edit and delete, the approval workflow and
period locks, comments. Every one takes its row locks in ``store.locks``' order."""

from store.timesheet.comments import add_comment
from store.timesheet.create import (
    Timing,
    check_client_id,
    log_entry,
    log_timing,
    new_entry_values,
    resolve_scope,
    set_span,
)
from store.timesheet.editing import delete_entry, restore_entry, update_entry
from store.timesheet.inputs import (
    UNSET,
    EntryChanges,
    ExternalRefInput,
    HowLong,
    LogEntry,
    Scope,
)
from store.timesheet.workflow import MAX_BATCH, TRANSITIONS, lock_team_entries, transition_entries

__all__ = [
    "MAX_BATCH",
    "TRANSITIONS",
    "UNSET",
    "EntryChanges",
    "ExternalRefInput",
    "HowLong",
    "LogEntry",
    "Scope",
    "Timing",
    "add_comment",
    "check_client_id",
    "delete_entry",
    "lock_team_entries",
    "log_entry",
    "log_timing",
    "new_entry_values",
    "resolve_scope",
    "restore_entry",
    "set_span",
    "transition_entries",
    "update_entry",
]
