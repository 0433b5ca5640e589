using Npgsql;
using PunkGrid.Contracts;
using PunkGrid.Server.Storage;

namespace PunkGrid.Server.Webhooks;

/// <summary>A delivery a silo claimed: the event for one hook, with where to post it and the key to sign it with.</summary>
public sealed record ClaimedDelivery(long DeliveryId, Guid EventId, string Hook, string EventType, string Body, int Attempt, string Url, string Secret);

/// <summary>
/// The webhooks and their outbox in PostgreSQL (<c>webhooks</c>, <c>webhook_outbox</c>). Events are written by the
/// transactions that cause them (<c>punkgrid_emit</c> in migration 0012); this store adds and lists hooks, and lets
/// dispatchers claim due deliveries under a lease, one silo per delivery at a time, then record how each went.
/// </summary>
public sealed class WebhookStore(NpgsqlDataSource dataSource)
{
    public async Task<bool> AddAsync(string name, WebhookSpec spec, string secret, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            insert into webhooks (name, url, events, secret) values (@name, @url, @events, @secret) on conflict (name) do nothing
            """);
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("url", spec.Url);
        command.Parameters.AddWithValue("events", spec.Events.ToArray());
        command.Parameters.AddWithValue("secret", secret);
        return await command.ExecuteNonQueryAsync(cancellation) == 1;
    }

    /// <summary>Removes a hook with its outbox rows (what it had not received yet is dropped with it).</summary>
    public async Task<bool> RemoveAsync(string name, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("delete from webhooks where name = @name");
        command.Parameters.AddWithValue("name", name);
        return await command.ExecuteNonQueryAsync(cancellation) == 1;
    }

    public async Task<IReadOnlyList<WebhookView>> ListAsync(CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            select h.name, h.url, h.events, h.created_at,
                   (select count(*) from webhook_outbox o where o.hook = h.name and o.delivered_at is null) as pending,
                   (select count(*) from webhook_outbox o where o.hook = h.name and o.delivered_at is not null) as delivered,
                   (select max(o.delivered_at) from webhook_outbox o where o.hook = h.name) as last_delivered_at,
                   (select o.last_error from webhook_outbox o where o.hook = h.name and o.delivered_at is null and o.last_error is not null
                    order by o.delivery_id desc limit 1) as last_error
            from webhooks h
            order by h.name
            """);
        var hooks = new List<WebhookView>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            hooks.Add(new WebhookView(reader.Text("name"), reader.Text("url"), reader.GetFieldValue<string[]>(reader.GetOrdinal("events")),
                reader.Time("created_at"), reader.Long("pending"), reader.Long("delivered"),
                reader.TimeOrNull("last_delivered_at"), reader.TextOrNull("last_error")));
        }
        return hooks;
    }

    public async Task<IReadOnlyList<WebhookDelivery>> DeliveriesAsync(string? hook, int limit, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            select delivery_id, event_id, hook, event_type, created_at, attempts, delivered_at,
                   case when delivered_at is null then greatest(next_attempt_at, coalesce(claimed_until, next_attempt_at)) end as next_attempt_at,
                   last_status, last_error
            from webhook_outbox
            where @hook::text is null or hook = @hook
            order by delivery_id desc
            limit @limit
            """);
        command.Parameters.Add(new NpgsqlParameter<string?>("hook", hook) { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        command.Parameters.AddWithValue("limit", limit);
        var deliveries = new List<WebhookDelivery>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            deliveries.Add(new WebhookDelivery(reader.Long("delivery_id"), reader.GetGuid(reader.GetOrdinal("event_id")), reader.Text("hook"),
                reader.Text("event_type"), reader.Time("created_at"), reader.Int("attempts"),
                reader.TimeOrNull("delivered_at"), reader.TimeOrNull("next_attempt_at"),
                reader.IntOrNull("last_status"), reader.TextOrNull("last_error")));
        }
        return deliveries;
    }

    /// <summary>Queues a <c>ping</c> event for one hook; false when there is no such hook.</summary>
    public async Task<bool> PingAsync(string hook, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            with event as (select gen_random_uuid() as id),
            queued as (
                insert into webhook_outbox (event_id, hook, event_type, payload)
                select e.id, h.name, 'ping', jsonb_build_object('id', e.id, 'type', 'ping', 'occurred_at', now(), 'data', jsonb_build_object('hook', h.name))
                from webhooks h, event e where h.name = @hook
                returning 1)
            select count(*) from queued
            """);
        command.Parameters.AddWithValue("hook", hook);
        return (long)(await command.ExecuteScalarAsync(cancellation))! == 1;
    }

    /// <summary>
    /// Claims up to <paramref name="limit"/> due deliveries for <paramref name="dispatcher"/> until <paramref name="claim"/>
    /// from now: not delivered, due, and not claimed by a dispatcher whose claim still holds. Each claim counts an attempt.
    /// </summary>
    public async Task<IReadOnlyList<ClaimedDelivery>> ClaimAsync(string dispatcher, int limit, TimeSpan claim, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            with due as (
                select delivery_id from webhook_outbox
                where delivered_at is null and next_attempt_at <= now() and (claimed_until is null or claimed_until < now())
                order by delivery_id
                limit @limit
                for update skip locked)
            update webhook_outbox o set claimed_by = @dispatcher, claimed_until = now() + @claim, attempts = o.attempts + 1
            from due d, webhooks h
            where o.delivery_id = d.delivery_id and h.name = o.hook
            returning o.delivery_id, o.event_id, o.hook, o.event_type, o.payload::text as body, o.attempts, h.url, h.secret
            """);
        command.Parameters.AddWithValue("dispatcher", dispatcher);
        command.Parameters.AddWithValue("limit", limit);
        command.Parameters.AddWithValue("claim", claim);
        var claimed = new List<ClaimedDelivery>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            claimed.Add(new ClaimedDelivery(reader.Long("delivery_id"), reader.GetGuid(reader.GetOrdinal("event_id")), reader.Text("hook"),
                reader.Text("event_type"), reader.Text("body"), reader.Int("attempts"), reader.Text("url"), reader.Text("secret")));
        }
        claimed.Sort((a, b) => a.DeliveryId.CompareTo(b.DeliveryId));
        return claimed;
    }

    /// <summary>The receiver took it (a 2xx): delivered, whoever holds the claim now (a repeat would only be a duplicate).</summary>
    public async Task DeliveredAsync(long deliveryId, int status, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            update webhook_outbox set delivered_at = now(), claimed_by = null, claimed_until = null, last_status = @status, last_error = null
            where delivery_id = @id and delivered_at is null
            """);
        command.Parameters.AddWithValue("id", deliveryId);
        command.Parameters.AddWithValue("status", status);
        await command.ExecuteNonQueryAsync(cancellation);
    }

    /// <summary>The attempt failed: try again after <paramref name="backoff"/>, if this dispatcher's claim of that attempt still holds.</summary>
    public async Task FailedAsync(long deliveryId, string dispatcher, int attempt, int? status, string error, TimeSpan backoff, CancellationToken cancellation = default)
    {
        await using var command = dataSource.CreateCommand("""
            update webhook_outbox set next_attempt_at = now() + @backoff, claimed_by = null, claimed_until = null, last_status = @status, last_error = @error
            where delivery_id = @id and claimed_by = @dispatcher and attempts = @attempt and delivered_at is null
            """);
        command.Parameters.AddWithValue("id", deliveryId);
        command.Parameters.AddWithValue("dispatcher", dispatcher);
        command.Parameters.AddWithValue("attempt", attempt);
        command.Parameters.Add(new NpgsqlParameter<int?>("status", status) { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Integer });
        command.Parameters.AddWithValue("error", error);
        command.Parameters.AddWithValue("backoff", backoff);
        await command.ExecuteNonQueryAsync(cancellation);
    }
}
