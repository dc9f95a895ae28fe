//! The tables as diesel sees them (one schema for both backends).

// Table definitions shared by both backends; types are limited to what the multi-backend
// connection supports (JSON is stored as text, timestamps as UTC `TIMESTAMP`).

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deactivated_at -> Nullable<Timestamp>,
        phone_extension -> Nullable<Text>,
    }
}

diesel::table! {
    api_clients (id) {
        id -> BigInt,
        client_id -> Text,
        name -> Text,
        secret_hash -> Text,
        scopes -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    channels (code) {
        code -> Text,
        name -> Text,
        active -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    clients (id) {
        id -> BigInt,
        kind -> Text,
        name -> Text,
        legal_name -> Nullable<Text>,
        inn -> Nullable<Text>,
        status -> Text,
        lost_reason -> Nullable<Text>,
        channel -> Nullable<Text>,
        region -> Nullable<Text>,
        industry -> Nullable<Text>,
        source -> Nullable<Text>,
        owner_id -> Nullable<BigInt>,
        tags -> Text,
        notes -> Nullable<Text>,
        custom_fields -> Text,
        phones -> Text,
        emails -> Text,
        addresses -> Text,
        mailing_consent -> Bool,
        estimated_potential -> Nullable<BigInt>,
        search_text -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        first_purchase_on -> Nullable<Date>,
        last_purchase_on -> Nullable<Date>,
        purchase_count -> BigInt,
        purchase_days -> BigInt,
        revenue_total -> BigInt,
        margin_total -> BigInt,
        name_key -> Nullable<Text>,
        roles -> Text,
    }
}

diesel::table! {
    client_tags (tag, client_id) {
        client_id -> BigInt,
        tag -> Text,
    }
}

diesel::table! {
    contacts (id) {
        id -> BigInt,
        client_id -> BigInt,
        name -> Text,
        position -> Nullable<Text>,
        is_decision_maker -> Bool,
        phones -> Text,
        emails -> Text,
        birthday -> Nullable<Date>,
        preferences -> Nullable<Text>,
        notes -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        custom_fields -> Text,
    }
}

diesel::table! {
    // An index table with no key of its own (rows are found by value or by card): the columns
    // named here only tell diesel what identifies a row.
    contact_points (client_id, kind, value) {
        client_id -> BigInt,
        contact_id -> Nullable<BigInt>,
        kind -> Text,
        value -> Text,
    }
}

diesel::table! {
    external_ids (external_id, source, entity_type) {
        entity_type -> Text,
        entity_id -> BigInt,
        source -> Text,
        external_id -> Text,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        txid -> BigInt,
        event_type -> Text,
        entity_type -> Text,
        entity_id -> BigInt,
        source -> Text,
        actor -> Nullable<Text>,
        payload -> Text,
        created_at -> Timestamp,
        message_id -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (principal, key) {
        principal -> Text,
        key -> Text,
        request_path -> Text,
        request_hash -> Text,
        status_code -> Nullable<Integer>,
        response_headers -> Nullable<Text>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
        owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    pipelines (id) {
        id -> BigInt,
        name -> Text,
        is_default -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    pipeline_stages (id) {
        id -> BigInt,
        pipeline_id -> BigInt,
        name -> Text,
        kind -> Text,
        probability -> Integer,
        position -> Integer,
        archived -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    deals (id) {
        id -> BigInt,
        client_id -> BigInt,
        contact_id -> Nullable<BigInt>,
        pipeline_id -> BigInt,
        stage_id -> BigInt,
        status -> Text,
        title -> Text,
        amount -> BigInt,
        currency -> Text,
        owner_id -> Nullable<BigInt>,
        expected_close_date -> Nullable<Date>,
        source -> Nullable<Text>,
        lost_reason -> Nullable<Text>,
        custom_fields -> Text,
        closed_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    deal_stage_history (id) {
        id -> BigInt,
        deal_id -> BigInt,
        pipeline_id -> BigInt,
        from_stage_id -> Nullable<BigInt>,
        to_stage_id -> BigInt,
        owner_id -> Nullable<BigInt>,
        channel -> Nullable<Text>,
        changed_by -> Nullable<Text>,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    activities (id) {
        id -> BigInt,
        activity_type -> Text,
        direction -> Nullable<Text>,
        occurred_at -> Timestamp,
        duration_seconds -> Nullable<Integer>,
        subject -> Nullable<Text>,
        body -> Nullable<Text>,
        outcome -> Nullable<Text>,
        client_id -> BigInt,
        contact_id -> Nullable<BigInt>,
        deal_id -> Nullable<BigInt>,
        author_id -> Nullable<BigInt>,
        external_ref -> Nullable<Text>,
        recording_url -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    tasks (id) {
        id -> BigInt,
        title -> Text,
        task_type -> Text,
        description -> Nullable<Text>,
        due_at -> Timestamp,
        assignee_id -> Nullable<BigInt>,
        client_id -> Nullable<BigInt>,
        deal_id -> Nullable<BigInt>,
        status -> Text,
        completed_at -> Nullable<Timestamp>,
        completed_activity_id -> Nullable<BigInt>,
        created_by -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sales (id) {
        id -> BigInt,
        client_id -> BigInt,
        sold_on -> Date,
        sold_month -> Integer,
        amount -> BigInt,
        cost -> Nullable<BigInt>,
        margin -> Nullable<BigInt>,
        currency -> Text,
        document_number -> Nullable<Text>,
        channel -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    client_status_history (id) {
        id -> BigInt,
        client_id -> BigInt,
        from_status -> Nullable<Text>,
        to_status -> Text,
        changed_by -> Nullable<Text>,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    segments (id) {
        id -> BigInt,
        name -> Text,
        description -> Nullable<Text>,
        filter -> Text,
        owner_id -> Nullable<BigInt>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhooks (id) {
        id -> BigInt,
        name -> Text,
        url -> Text,
        description -> Nullable<Text>,
        event_types -> Text,
        mailing_provider -> Bool,
        active -> Bool,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamp>,
        disabled_reason -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        webhook_id -> BigInt,
        message_id -> Text,
        event_type -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_attempt_at -> Nullable<Timestamp>,
        response_status -> Nullable<Integer>,
        response_excerpt -> Nullable<Text>,
        last_error -> Nullable<Text>,
        duration_ms -> Nullable<Integer>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    campaigns (id) {
        id -> BigInt,
        name -> Text,
        channel -> Text,
        segment_id -> Nullable<BigInt>,
        client_ids -> Nullable<Text>,
        subject -> Nullable<Text>,
        template -> Text,
        merge_fields -> Text,
        provider -> Text,
        scheduled_at -> Nullable<Timestamp>,
        status -> Text,
        launched_at -> Nullable<Timestamp>,
        skipped -> Nullable<Text>,
        created_by -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    campaign_recipients (id) {
        id -> BigInt,
        campaign_id -> BigInt,
        client_id -> BigInt,
        address -> Text,
        batch -> Integer,
        status -> Text,
        status_at -> Timestamp,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    campaign_recipient_events (id) {
        id -> BigInt,
        recipient_id -> BigInt,
        campaign_id -> BigInt,
        client_id -> BigInt,
        status -> Text,
        occurred_at -> Timestamp,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    provider_messages (provider, message_id) {
        provider -> Text,
        message_id -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        occurred_at -> Timestamp,
        actor -> Text,
        action -> Text,
        outcome -> Text,
        target_type -> Nullable<Text>,
        target_id -> Nullable<BigInt>,
        address -> Nullable<Text>,
        details -> Text,
    }
}

diesel::table! {
    client_merges (duplicate_id) {
        duplicate_id -> BigInt,
        survivor_id -> BigInt,
        merged_by -> Nullable<Text>,
        merged_at -> Timestamp,
    }
}

diesel::table! {
    automations (id) {
        id -> BigInt,
        key -> Text,
        name -> Text,
        enabled -> Bool,
        builtin -> Bool,
        trigger -> Text,
        conditions -> Text,
        actions -> Text,
        enabled_at -> Nullable<Timestamp>,
        cursor_txid -> BigInt,
        cursor_id -> BigInt,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    automation_runs (id) {
        id -> BigInt,
        automation_id -> BigInt,
        trigger -> Text,
        occurrence -> Text,
        as_of -> Timestamp,
        status -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        lease_until -> Nullable<Timestamp>,
        subjects_matched -> BigInt,
        processed -> BigInt,
        skipped -> BigInt,
        actions_taken -> Text,
        errors -> Text,
        error_count -> BigInt,
    }
}

diesel::table! {
    automation_effects (automation_id, subject, occurrence) {
        automation_id -> BigInt,
        subject -> Text,
        occurrence -> Text,
        run_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    imports (id) {
        id -> BigInt,
        entity -> Text,
        state -> Text,
        file_name -> Text,
        format -> Text,
        sheet -> Nullable<Text>,
        size_bytes -> BigInt,
        row_count -> BigInt,
        file_columns -> Text,
        settings -> Text,
        batch_rows -> BigInt,
        processed -> BigInt,
        created -> BigInt,
        updated -> BigInt,
        unchanged -> BigInt,
        skipped -> BigInt,
        errors -> BigInt,
        failure -> Nullable<Text>,
        reverted -> Nullable<Text>,
        created_by -> Text,
        started_by -> Nullable<Text>,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        reverted_at -> Nullable<Timestamp>,
        lease_until -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    import_files (import_id) {
        import_id -> BigInt,
        content -> Binary,
    }
}

diesel::table! {
    import_batches (import_id, first_row) {
        import_id -> BigInt,
        first_row -> BigInt,
        row_count -> BigInt,
    }
}

diesel::table! {
    import_rows (import_id, row_no) {
        import_id -> BigInt,
        row_no -> BigInt,
        outcome -> Text,
        record_id -> Nullable<BigInt>,
        previous -> Nullable<Text>,
        version_after -> Nullable<BigInt>,
        reasons -> Nullable<Text>,
        reverted -> Bool,
    }
}

diesel::table! {
    login_failures (id) {
        id -> BigInt,
        key -> Text,
        failed_at -> Timestamp,
    }
}

diesel::table! {
    rate_counts (class, subject, window_start) {
        class -> Text,
        subject -> Text,
        window_start -> BigInt,
        hits -> BigInt,
    }
}

diesel::joinable!(clients -> users (owner_id));
diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(campaign_recipients -> campaigns (campaign_id));
diesel::joinable!(campaign_recipient_events -> campaigns (campaign_id));
diesel::joinable!(sales -> clients (client_id));
diesel::joinable!(contacts -> clients (client_id));
diesel::joinable!(client_tags -> clients (client_id));
diesel::joinable!(contact_points -> clients (client_id));
diesel::joinable!(pipeline_stages -> pipelines (pipeline_id));
diesel::joinable!(deals -> clients (client_id));
diesel::joinable!(deal_stage_history -> deals (deal_id));
diesel::joinable!(activities -> clients (client_id));

diesel::table! {
    custom_fields (id) {
        id -> BigInt,
        entity -> Text,
        field_key -> Text,
        label -> Text,
        field_type -> Text,
        options -> Text,
        required -> Bool,
        is_unique -> Bool,
        filterable -> Bool,
        archived -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    // An index table like contact_points: the columns named only tell diesel what a row is.
    custom_field_values (entity, record_id, field_key, value) {
        entity -> Text,
        record_id -> BigInt,
        field_key -> Text,
        value -> Text,
        number -> Nullable<Double>,
        unique_value -> Nullable<Text>,
    }
}

diesel::table! {
    teams (id) {
        id -> BigInt,
        name -> Text,
        lead_id -> Nullable<BigInt>,
        region -> Nullable<Text>,
        channel -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    team_members (team_id, user_id) {
        team_id -> BigInt,
        user_id -> BigInt,
    }
}

diesel::joinable!(team_members -> teams (team_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    api_clients,
    channels,
    clients,
    client_tags,
    contacts,
    contact_points,
    external_ids,
    events,
    idempotency_keys,
    pipelines,
    pipeline_stages,
    deals,
    deal_stage_history,
    activities,
    tasks,
    sales,
    client_status_history,
    segments,
    webhooks,
    webhook_deliveries,
    campaigns,
    campaign_recipients,
    campaign_recipient_events,
    provider_messages,
    audit_log,
    client_merges,
    automations,
    automation_runs,
    automation_effects,
    imports,
    import_files,
    import_batches,
    import_rows,
    custom_fields,
    custom_field_values,
    login_failures,
    rate_counts,
    teams,
    team_members,
);
