//! The behaviour every storage backend must share. Each backend's test suite expands
//! [`contract_tests!`](crate::contract_tests) with a constructor for a fresh, empty store,
//! so one list of checks runs against SQLite and PostgreSQL alike. Checks speak only the
//! traits: no backend-specific assumption (key values, offsets starting at 1, error texts).

mod activities;
mod address_suppressions;
mod broadcasts;
mod computed_definitions;
mod deliveries;
mod deliveries_recheck;
mod delivery_outcomes;
mod delivery_reads;
mod derived;
mod devices;
mod documents;
mod export;
mod journey_people;
mod journey_records;
mod journeys;
mod log;
mod merge;
mod objects;
mod pages;
mod people;
mod person_lifecycle;
mod processing;
mod read_ahead;
mod rejections;
mod reporting_webhooks;
mod schedules;
mod segment_definitions;
mod segment_members;
mod segments;
mod transactional;
mod transactions;
mod workspaces;

pub use activities::*;
pub use address_suppressions::*;
pub use broadcasts::*;
pub use computed_definitions::*;
pub use deliveries::*;
pub use deliveries_recheck::*;
pub use delivery_outcomes::*;
pub use delivery_reads::*;
pub use derived::*;
pub use devices::*;
pub use documents::*;
pub use export::*;
pub use journey_people::*;
pub use journey_records::*;
pub use journeys::*;
pub use log::*;
pub use merge::*;
pub use objects::*;
pub use pages::*;
pub use people::*;
pub use person_lifecycle::*;
pub use processing::*;
pub use read_ahead::*;
pub use rejections::*;
pub use reporting_webhooks::*;
pub use schedules::*;
pub use segment_definitions::*;
pub use segment_members::*;
pub use segments::*;
pub use transactional::*;
pub use transactions::*;
pub use workspaces::*;

use crate::{KeyRecord, NewWorkspace, Store, StoreResult, WriteTx};
use nudge_core::{
    Activity, ActivityKind, ApiKind, Env, Identifier, IdentifierKind, JsonMap, PersonKey,
    Timestamp, WorkspaceId,
};

/// Expands to one `#[test]` per contract check, each on a fresh store from `$make`.
#[macro_export]
macro_rules! contract_tests {
    ($make:expr) => {
        $crate::contract_tests!(@each $make;
            workspace_round_trip,
            workspaces_are_listed_and_found_by_name,
            duplicate_workspace_name_or_site_is_a_conflict,
            replace_keys_retires_the_old_keys,
            keys_open_only_their_own_workspace,
            ping_answers,
            write_commits_on_ok,
            write_rolls_back_everything_on_err,
            log_offsets_increase_and_read_back_in_order,
            log_is_per_workspace,
            dedupe_key_recorded_twice_is_a_duplicate,
            dedupe_keys_are_per_workspace,
            prune_dedupe_keys_forgets_only_older_keys,
            identifiers_resolve_relink_and_unlink,
            identifiers_are_per_workspace,
            identifier_values_match_exactly_as_given,
            person_insert_load_save_round_trip,
            delete_person_removes_everything_hanging_off_them,
            person_view_sorts_identifiers_and_devices,
            activities_are_newest_first_and_page_by_seq,
            activities_filter_by_kind_and_name,
            activities_belong_to_one_person,
            devices_upsert_replace_and_delete,
            device_token_moves_between_people,
            suppression_is_set_unset_and_checked_per_identifier,
            identifiers_suppressed_together_are_freed_together,
            move_person_data_moves_everything,
            move_person_data_keeps_the_targets_own_on_a_clash,
            move_person_data_onto_itself_changes_nothing,
            manual_segments_are_created_and_recognised,
            segment_membership_is_added_and_removed,
            objects_upsert_merges_attributes,
            delete_object_removes_its_relationships,
            set_relationship_adds_replaces_and_removes,
            record_activity_ignores_a_seq_already_recorded,
            marks_only_rise_and_belong_to_one_workspace,
            person_marks_count_activities_and_outlive_the_person,
            log_extent_counts_what_follows_an_offset,
            reset_derived_clears_one_workspace_and_nothing_else,
            people_pages_walk_everyone_once_in_key_order,
            people_pages_keep_to_the_segment_and_since,
            event_pages_list_events_pages_and_screens_with_their_person,
            event_pages_keep_to_the_segment_and_since,
            export_jobs_are_created_finished_and_kept_per_workspace,
            rejections_are_recorded_and_listed_newest_first,
            rejections_are_per_workspace,
            rejections_roll_back_with_their_transaction,
            segments_are_created_listed_and_read_per_workspace,
            explicit_segment_ids_are_kept_and_a_taken_one_is_a_conflict,
            store_chosen_segment_ids_avoid_explicit_ones,
            data_driven_segments_start_a_backfill_of_the_workspace,
            update_segment_bumps_the_version_and_restarts_backfill_on_new_conditions,
            update_segment_refuses_switching_between_manual_and_data_driven,
            delete_segment_removes_memberships_and_transitions,
            segment_members_are_counted_and_paged_in_key_order,
            segment_transitions_are_listed_newest_first_per_person,
            computed_definitions_are_versioned_and_identical_puts_change_nothing,
            computed_definitions_are_deleted_and_kept_per_workspace,
            config_version_rises_with_every_definition_change,
            processed_offset_is_kept_per_workspace,
            person_segment_ids_list_manual_and_data_driven_memberships,
            person_identifiers_list_every_identifier_of_the_person_sorted,
            entry_attribute_changes_read_only_that_entrys_changes,
            person_events_filter_by_name_and_since_in_timestamp_order,
            computed_states_are_set_replaced_and_forgotten,
            person_schedules_are_recorded_and_none_is_never_due,
            due_checks_are_earliest_first_across_workspaces_with_a_limit,
            next_scheduled_check_is_the_earliest_of_any_workspace,
            people_pages_walk_a_workspace_in_key_order,
            people_pages_bring_what_the_per_person_reads_bring,
            people_by_key_bring_what_the_per_person_reads_bring,
            resolve_all_answers_each_identifier_as_resolve_does,
            backfill_progress_is_stored_per_definition,
            delete_person_removes_their_processing_state,
            move_person_data_moves_manual_memberships_and_transitions_only,
            reset_derived_wipes_processing_state_and_keeps_definitions,
            documents_are_versioned_and_identical_puts_change_nothing,
            deleted_documents_leave_the_listing_and_come_back_as_new_versions,
            documents_are_kept_per_workspace,
            instances_round_trip_through_insert_read_and_update,
            a_second_live_instance_with_the_same_key_is_a_conflict,
            person_instances_are_the_active_and_the_still_watched,
            due_instances_are_earliest_first_across_workspaces_with_a_limit,
            last_entry_is_the_latest_entry_into_the_journey,
            waiting_instances_count_live_ones_by_version_and_step,
            journey_events_are_recorded_counted_and_paged,
            journey_events_roll_back_with_their_counters,
            enqueue_message_is_idempotent_on_the_message_id,
            delete_person_removes_instances_and_keeps_timeline_and_outbox,
            move_person_data_moves_instances_and_finishes_a_clashing_live_one,
            move_person_data_without_journeys_moves_no_instances,
            reset_derived_wipes_journey_state_and_keeps_documents_and_outbox,
            broadcasts_are_put_and_read_back,
            put_broadcast_replaces_the_job_with_its_id,
            open_broadcasts_are_the_incomplete_oldest_first_per_workspace,
            broadcast_by_id_is_per_workspace_and_none_when_unknown,
            reset_derived_wipes_broadcasts,
            claims_take_due_deliveries_earliest_first_across_workspaces,
            a_claim_hides_its_deliveries_until_it_runs_out,
            finishing_is_fenced_by_the_claim,
            each_update_records_its_state_and_fields,
            a_batch_of_updates_writes_each_one_its_claim_still_holds,
            a_retry_is_due_again_at_its_time,
            next_delivery_due_is_the_earliest_open_time_of_any_workspace,
            a_delivery_is_read_by_its_id_per_workspace,
            the_processor_reads_a_delivery_state_in_its_transaction,
            deliveries_are_listed_by_id_with_each_filter,
            concurrent_claimers_never_share_a_delivery,
            log_head_is_the_last_offset_of_the_workspace,
            instances_are_read_by_id_in_one_call_active_or_finished,
            recheck_reads_answer_each_read_as_the_single_reads_do,
            suppressions_are_added_once_read_listed_and_removed,
            a_bounce_marks_the_delivery_and_suppresses_its_address,
            metrics_move_deliveries_forward_and_leave_notes,
            marketing_sends_are_the_persons_sent_marketing_messages_since,
            a_queued_delivery_belongs_to_no_journey_and_waits_for_its_time,
            an_idempotency_key_queues_once_and_returns_the_first_delivery,
            a_taken_delivery_id_is_a_conflict,
            requests_racing_with_one_key_queue_one_delivery,
            reporting_webhooks_are_kept_per_workspace_and_start_at_the_head,
            ledger_changes_append_their_reports_in_their_transaction,
            cursors_move_fenced_count_failures_and_prune_what_all_passed,
            concurrent_appends_are_numbered_without_gaps,
        );
    };
    (@each $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let store = $make;
                $crate::contract::$check(&store);
            }
        )*
    };
}

// --- fixtures shared by the checks ----------------------------------------------------------

/// A fresh activity position: unique in the process, increasing in call order.
pub(crate) fn next_seq() -> i64 {
    static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// When the contract checks' merges happen.
pub(crate) const MERGED_AT: Timestamp = Timestamp::from_millis(4_242_000);

pub(crate) fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// A JSON object literal as an attribute map.
pub(crate) fn map(value: serde_json::Value) -> JsonMap {
    value.as_object().cloned().expect("a JSON object")
}

pub(crate) fn ident(kind: IdentifierKind, value: &str) -> Identifier {
    Identifier::new(kind, value).expect("a valid identifier")
}

pub(crate) fn id(value: &str) -> Identifier {
    ident(IdentifierKind::Id, value)
}

pub(crate) fn email(value: &str) -> Identifier {
    ident(IdentifierKind::Email, value)
}

/// A workspace named `name` with no keys.
pub(crate) fn workspace(store: &dyn Store, name: &str) -> WorkspaceId {
    workspace_with_keys(store, name, vec![])
}

pub(crate) fn workspace_with_keys(
    store: &dyn Store,
    name: &str,
    keys: Vec<KeyRecord>,
) -> WorkspaceId {
    store
        .create_workspace(&NewWorkspace {
            name: name.into(),
            env: Env::Production,
            site_id: format!("site-{name}"),
            keys,
            now: at(1),
        })
        .expect("create workspace")
        .id
}

pub(crate) fn key(kind: ApiKind, byte: u8) -> KeyRecord {
    KeyRecord {
        kind,
        hash: [byte; 32],
    }
}

/// Runs `work` in one committed write and returns what it returned.
pub(crate) fn write<T>(
    store: &dyn Store,
    mut work: impl FnMut(&mut dyn WriteTx) -> StoreResult<T>,
) -> T {
    let mut out = None;
    store
        .write(&mut |tx| {
            out = Some(work(tx)?);
            Ok(())
        })
        .expect("the write commits");
    out.expect("the work ran")
}

/// The cio_id the fixtures give the person with id `id_value` in `ws`.
pub(crate) fn cio_id(ws: WorkspaceId, id_value: &str) -> String {
    format!("cio-{ws}-{id_value}")
}

/// Inserts a person the way ingestion does: the row, then its cio_id and id identifiers.
pub(crate) fn new_person(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    id_value: &str,
) -> StoreResult<PersonKey> {
    let cio = cio_id(ws, id_value);
    let key = tx.insert_person(ws, &cio, at(10))?;
    tx.link_identifier(ws, &ident(IdentifierKind::CioId, &cio), key)?;
    tx.link_identifier(ws, &id(id_value), key)?;
    Ok(key)
}

/// A committed person with id `id_value`.
pub(crate) fn person(store: &dyn Store, ws: WorkspaceId, id_value: &str) -> PersonKey {
    write(store, |tx| new_person(tx, ws, id_value))
}

pub(crate) fn activity(kind: ActivityKind, name: &str, ms: i64) -> Activity {
    Activity {
        kind,
        name: name.into(),
        timestamp: at(ms),
        data: map(serde_json::json!({ "at": ms })),
        event_id: None,
        can_trigger: true,
    }
}

pub(crate) fn device(token: &str, platform: &str) -> nudge_core::Device {
    nudge_core::Device {
        token: token.into(),
        platform: platform.into(),
        last_used: None,
        attributes: JsonMap::new(),
    }
}
