using System.Text.Json;
using PunkGrid.Contracts;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Storage;
using PunkGrid.Server.Webhooks;
using PunkGrid.Server.Worker;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// The webhook outbox on a real PostgreSQL: events written by the transactions that cause them, exactly once however the
/// run's last jobs end (concurrently, in one statement), routed by each hook's events with one id per event; and the
/// claims that let one dispatcher at a time deliver a row.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class WebhookOutboxTests(PostgresServer server) : IAsyncLifetime
{
    private MigratedDatabase database = null!;
    private WebhookStore hooks = null!;

    private static readonly WorkerRegistration W1 = new("w1", "silo-1", "cpu", 16, 1024);

    public async Task InitializeAsync()
    {
        database = await MigratedDatabase.CreateAsync(server, "webhooks");
        hooks = new WebhookStore(database.DataSource);
        Assert.True(await hooks.AddAsync("all", new WebhookSpec("http://127.0.0.1:9/all", WebhookEvents.All), "secret-all"));
        Assert.True(await hooks.AddAsync("failures", new WebhookSpec("http://127.0.0.1:9/failures", [WebhookEvents.RunFailed]), "secret-failures"));
        Assert.False(await hooks.AddAsync("all", new WebhookSpec("http://127.0.0.1:9/other", [WebhookEvents.RunFailed]), "x")); // names are unique
    }

    public async Task DisposeAsync() => await database.DisposeAsync();

    private async Task<IReadOnlyList<string>> RunningRunAsync(string runId, int jobs)
    {
        var newJobs = Enumerable.Range(1, jobs)
            .Select(i => new JobStore.NewJob($"{runId}.j{i}", new JobSpec(JobKinds.Noop, null, "quick", new Dictionary<string, string>()), 0, 1, "any"))
            .ToList();
        Assert.True(await database.Jobs.CreateRunAsync(runId, new RunSpec(JobKinds.Noop, [], false, "quick", new Dictionary<string, string>(), 0), newJobs));
        Assert.Equal(jobs, (await database.Queue.LeaseAsync(W1, jobs)).Count);
        return newJobs.Select(j => j.JobId).ToList();
    }

    private async Task<List<(Guid EventId, string Hook, string Type, JsonElement Payload)>> EventsAsync(string runId)
    {
        await using var command = database.DataSource.CreateCommand("""
            select event_id, hook, event_type, payload::text as payload from webhook_outbox
            where payload->'data'->>'run_id' = @run order by delivery_id
            """);
        command.Parameters.AddWithValue("run", runId);
        var events = new List<(Guid, string, string, JsonElement)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            events.Add((reader.GetGuid(0), reader.GetString(1), reader.GetString(2), JsonDocument.Parse(reader.GetString(3)).RootElement.Clone()));
        }
        return events;
    }

    /// <summary>
    /// The interleaving that would lose the event: transaction A ends one job and has not committed when transaction B ends
    /// the other. Each alone sees the other's job still running; B waits for A's run lock, then sees both ended.
    /// </summary>
    [Fact]
    public async Task A_run_whose_last_two_jobs_end_in_overlapping_transactions_is_announced_once()
    {
        var jobs = await RunningRunAsync("overlap", 2);
        const string end = "update jobs set state = 'Succeeded', finished_at = now() where job_id = @job";
        await using var a = await database.DataSource.OpenConnectionAsync();
        await using var first = await a.BeginTransactionAsync();
        await using (var endFirst = new Npgsql.NpgsqlCommand(end, a, first))
        {
            endFirst.Parameters.AddWithValue("job", jobs[0]);
            await endFirst.ExecuteNonQueryAsync();
        }
        await using var b = await database.DataSource.OpenConnectionAsync();
        await using var second = await b.BeginTransactionAsync();
        await using var endSecond = new Npgsql.NpgsqlCommand(end, b, second);
        endSecond.Parameters.AddWithValue("job", jobs[1]);
        var ending = endSecond.ExecuteNonQueryAsync();
        await Task.Delay(500);
        Assert.False(ending.IsCompleted); // B waits for the run, which A holds
        await first.CommitAsync();
        await ending;
        await second.CommitAsync();
        Assert.Equal([WebhookEvents.RunFinished], (await EventsAsync("overlap")).Select(e => e.Type));
    }

    [Fact]
    public async Task Two_transactions_ending_a_runs_last_jobs_at_once_announce_it_exactly_once()
    {
        for (var round = 0; round < 8; round++)
        {
            var run = $"race-{round}";
            var jobs = await RunningRunAsync(run, 3);
            await Task.WhenAll(jobs.Select(j => database.Queue.SucceedAsync(j, 1, "{}", new Dictionary<string, double>())));
            var events = await EventsAsync(run);
            var announced = Assert.Single(events);
            Assert.Equal(("all", WebhookEvents.RunFinished), (announced.Hook, announced.Type));
            Assert.Equal(3, announced.Payload.GetProperty("data").GetProperty("jobs").GetProperty("Succeeded").GetInt32());
            Assert.Equal(announced.EventId.ToString(), announced.Payload.GetProperty("id").GetString());
        }
    }

    [Fact]
    public async Task A_statement_ending_every_job_of_a_run_announces_it_once_and_a_retry_announces_it_again()
    {
        var jobs = await RunningRunAsync("bulk", 4);
        await using (var cancel = database.DataSource.CreateCommand("update jobs set state = 'Cancelled', finished_at = now() where run_id = 'bulk'"))
        {
            Assert.Equal(4, await cancel.ExecuteNonQueryAsync());
        }
        Assert.Equal([WebhookEvents.RunFinished], (await EventsAsync("bulk")).Select(e => e.Type));

        // A cancelled job retried and failing for good: the run ends again, now failed; both hooks hear it under one event id.
        Assert.True((await database.Jobs.RetryAsync(jobs[0]))!.Value.Changed);
        var lease = Assert.Single(await database.Queue.LeaseAsync(W1, 1));
        Assert.Equal(JobState.Failed, await database.Queue.FailAsync(lease.JobId, lease.Attempt, "boom", retryable: false));
        var events = await EventsAsync("bulk");
        Assert.Equal(3, events.Count);
        var failed = events.Skip(1).ToList();
        Assert.Equal(["all", "failures"], failed.Select(e => e.Hook).Order());
        Assert.All(failed, e => Assert.Equal(WebhookEvents.RunFailed, e.Type));
        Assert.Single(failed.Select(e => e.EventId).Distinct());
        Assert.NotEqual(events[0].EventId, failed[0].EventId);
    }

    [Fact]
    public async Task A_quarantined_job_is_announced_and_an_unfinished_run_is_not()
    {
        var jobs = await RunningRunAsync("poison", 2);
        await using (var quarantine = database.DataSource.CreateCommand(
            "update jobs set state = 'Failed', error = 'quarantined: 2 attempts in a row lost their worker', finished_at = now() where job_id = @job"))
        {
            quarantine.Parameters.AddWithValue("job", jobs[0]);
            await quarantine.ExecuteNonQueryAsync();
        }
        await using var command = database.DataSource.CreateCommand("select event_type, payload->'data'->>'job_id' from webhook_outbox where payload->'data'->>'run_id' = 'poison'");
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal((WebhookEvents.JobQuarantined, jobs[0]), (reader.GetString(0), reader.GetString(1)));
        Assert.False(await reader.ReadAsync()); // the run still has a running job: not announced
    }

    [Fact]
    public async Task A_schedule_firing_writes_its_event_only_when_it_is_recorded()
    {
        var schedules = new ScheduleStore(database.DataSource);
        Assert.True(await schedules.InsertAsync("nightly", new ScheduleSpec("0 3 * * *", "UTC", new RunSpec(JobKinds.Noop, [], false, "quick", new Dictionary<string, string>(), 0))));
        var fired = DateTimeOffset.UtcNow;
        Assert.True(await schedules.RecordFiringAsync("nightly", null, fired, null, "firing due x skipped: run y is still in progress", webhookEvent: WebhookEvents.ScheduleMissed));
        // Another silo recording the same firing loses the compare-and-set: no second event.
        Assert.False(await schedules.RecordFiringAsync("nightly", null, fired, null, "firing due x skipped: again", webhookEvent: WebhookEvents.ScheduleMissed));
        Assert.True(await schedules.RecordFiringAsync("nightly", fired, fired.AddMinutes(1), "run-1", "submitted run run-1"));
        await using var command = database.DataSource.CreateCommand("select hook, event_type, payload->'data'->>'schedule' from webhook_outbox where event_type like 'schedule.%'");
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(("all", WebhookEvents.ScheduleMissed, "nightly"), (reader.GetString(0), reader.GetString(1), reader.GetString(2)));
        Assert.False(await reader.ReadAsync());
    }

    [Fact]
    public async Task A_delivery_is_claimed_by_one_dispatcher_at_a_time_until_its_claim_expires()
    {
        var jobs = await RunningRunAsync("claims", 1);
        Assert.Equal(JobState.Failed, await database.Queue.FailAsync(jobs[0], 1, "boom", retryable: false));
        Assert.Equal(2, (await EventsAsync("claims")).Count); // one run.failed for each hook

        var firstClaims = await Task.WhenAll(hooks.ClaimAsync("silo-a", 10, TimeSpan.FromSeconds(1)), hooks.ClaimAsync("silo-b", 10, TimeSpan.FromSeconds(1)));
        var claimed = firstClaims.SelectMany(c => c).ToList();
        Assert.Equal(2, claimed.Count); // each row once, whoever got it
        Assert.Equal(2, claimed.Select(c => c.DeliveryId).Distinct().Count());
        Assert.All(claimed, c => Assert.Equal(1, c.Attempt));
        Assert.Empty(await hooks.ClaimAsync("silo-c", 10, TimeSpan.FromSeconds(1))); // claims hold

        var all = claimed.Single(c => c.Hook == "all");
        await hooks.DeliveredAsync(all.DeliveryId, 200);
        await Task.Delay(TimeSpan.FromSeconds(1.5)); // the other claim expires: its dispatcher died mid-delivery
        var retaken = Assert.Single(await hooks.ClaimAsync("silo-c", 10, TimeSpan.FromSeconds(30)));
        Assert.Equal(("failures", 2, "secret-failures"), (retaken.Hook, retaken.Attempt, retaken.Secret));
        // The first dispatcher's late failure report (attempt 1, its claim gone) changes nothing; the live one's backs the row off.
        foreach (var late in new[] { "silo-a", "silo-b" })
        {
            await hooks.FailedAsync(retaken.DeliveryId, late, 1, 500, "late", TimeSpan.Zero);
        }
        await hooks.FailedAsync(retaken.DeliveryId, "silo-c", 2, 503, "HTTP 503", TimeSpan.FromMinutes(5));
        Assert.Empty(await hooks.ClaimAsync("silo-d", 10, TimeSpan.FromSeconds(30))); // backing off

        var deliveries = await hooks.DeliveriesAsync(null, 10);
        Assert.Equal(2, deliveries.Count);
        var pending = deliveries.Single(d => d.Hook == "failures");
        Assert.Equal((2, (int?)503, "HTTP 503", (DateTimeOffset?)null), (pending.Attempts, pending.LastStatus, pending.LastError, pending.DeliveredAt));
        Assert.True(pending.NextAttemptAt > DateTimeOffset.UtcNow.AddMinutes(4));
        Assert.NotNull(deliveries.Single(d => d.Hook == "all").DeliveredAt);
        var views = await hooks.ListAsync();
        Assert.Equal([("all", 0L, 1L), ("failures", 1L, 0L)], views.Select(v => (v.Name, v.Pending, v.Delivered)));

        Assert.True(await hooks.PingAsync("all"));
        Assert.False(await hooks.PingAsync("nope"));
        Assert.True(await hooks.RemoveAsync("failures"));
        Assert.Single(await hooks.DeliveriesAsync(null, 10), d => d.EventType == WebhookEvents.Ping);
    }

    [Fact]
    public void Signatures_verify_only_with_the_secret_the_timestamp_and_the_body_they_were_made_with()
    {
        var signature = WebhookSignature.Sign("s3cret", 1700000000, "{\"id\":1}");
        Assert.StartsWith("sha256=", signature);
        Assert.True(WebhookSignature.Verify("s3cret", 1700000000, "{\"id\":1}", signature));
        Assert.False(WebhookSignature.Verify("other", 1700000000, "{\"id\":1}", signature));
        Assert.False(WebhookSignature.Verify("s3cret", 1700000001, "{\"id\":1}", signature));
        Assert.False(WebhookSignature.Verify("s3cret", 1700000000, "{\"id\":2}", signature));
        Assert.NotEqual(WebhookSignature.NewSecret(), WebhookSignature.NewSecret());
    }
}
