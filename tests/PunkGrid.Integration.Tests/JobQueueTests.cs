using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using PunkGrid.Contracts;
using PunkGrid.Server;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Storage;
using PunkGrid.Server.Worker;
using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// The queue is the <c>jobs</c> table: leasing, renewing, reporting and expiring on a real PostgreSQL, including the
/// cases a single in-memory queue got wrong (concurrent leasers, outages, ambiguous reports, orphaned leases).
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class JobQueueTests(PostgresServer server) : IAsyncLifetime
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    private static readonly WorkerRegistration Cpu = new("cpu-1", "silo-1", "cpu", 4, 1024);
    private static readonly WorkerRegistration Gpu = new("gpu-1", "silo-2", "cuda:0", 4, 1024);

    private MigratedDatabase database = null!;
    private NpgsqlDataSource dataSource = null!;
    private JobStore jobs = null!;
    private JobQueue queue = null!;
    private CheckpointStore checkpoints = null!;
    private MetricStore metrics = null!;

    public async Task InitializeAsync()
    {
        database = await MigratedDatabase.CreateAsync(server, "queue", new JobQueueOptions { LeaseTimeout = Lease, QuarantineAfterCrashes = 2 });
        (dataSource, jobs, queue) = (database.DataSource, database.Jobs, database.Queue);
        (checkpoints, metrics) = (database.Checkpoints, database.Metrics);
    }

    public async Task DisposeAsync() => await database.DisposeAsync();

    private async Task<List<string>> SubmitAsync(string runId, int count, int priority = 0, string device = "any")
    {
        var spec = new RunSpec(JobKinds.Noop, [], false, "quick", new Dictionary<string, string>(), priority);
        var planned = Enumerable.Range(1, count)
            .Select(i => new JobStore.NewJob($"{runId}.{i:000}", new JobSpec(JobKinds.Noop, $"{i:000}", "quick", new Dictionary<string, string>()), priority, 3, device))
            .ToList();
        Assert.True(await jobs.CreateRunAsync(runId, spec, planned));
        return planned.Select(j => j.JobId).ToList();
    }

    private async Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = dataSource.CreateCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }
        await command.ExecuteNonQueryAsync();
    }

    private async Task<JobSummary> JobAsync(string jobId) => (await jobs.GetJobAsync(jobId))!.Value.Summary;

    /// <summary>Makes the job's lease look expired (as if its worker went silent long ago) and the lease clock freshly ticked.</summary>
    private Task ExpireLeaseOfAsync(string jobId) => ExecuteAsync(
        "update jobs set lease_expires_at = now() - interval '1 second' where job_id = @job; update lease_clock set last_tick = now()", ("job", jobId));

    [Fact]
    public async Task Leases_go_highest_priority_first_then_oldest_and_only_to_a_fitting_device()
    {
        var low = await SubmitAsync("low", 2);
        var high = await SubmitAsync("high", 1, priority: 5);
        var cuda = await SubmitAsync("cuda", 1, device: "cuda");

        var first = await queue.LeaseAsync(Cpu, 10);
        Assert.Equal([high[0], low[0], low[1]], first.Select(l => l.JobId));
        Assert.All(first, l => Assert.Equal(1, l.Attempt));
        Assert.Equal(JobKinds.Noop, first[0].Spec.Kind);
        Assert.Empty(await queue.LeaseAsync(Cpu, 10)); // the cuda job is not for a cpu worker
        Assert.Equal(cuda, (await queue.LeaseAsync(Gpu, 10)).Select(l => l.JobId));
        Assert.Equal(0, await queue.DepthAsync());
    }

    [Fact]
    public async Task Concurrent_leasers_never_get_the_same_job()
    {
        var submitted = await SubmitAsync("race", 200);
        var workers = Enumerable.Range(1, 8).Select(i => Cpu with { WorkerId = $"racer-{i}" }).ToList();
        var leased = new List<JobLease>();
        await Parallel.ForEachAsync(workers, async (worker, _) =>
        {
            while (true)
            {
                var got = await queue.LeaseAsync(worker, 3);
                if (got.Count == 0)
                {
                    return;
                }
                lock (leased)
                {
                    leased.AddRange(got);
                }
            }
        });
        Assert.Equal(submitted.Order(), leased.Select(l => l.JobId).Order());
        await using var command = dataSource.CreateCommand("select count(*) from job_events where to_state = 'Running'");
        Assert.Equal(200L, await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task A_heartbeat_renews_held_leases_names_lost_ones_and_finds_orphans()
    {
        var ids = await SubmitAsync("beat", 3);
        var leases = await queue.LeaseAsync(Cpu, 3);
        Assert.Equal(3, leases.Count);
        Assert.True((await jobs.CancelAsync(ids[1], "operator"))!.Value.Changed);

        // The worker reports jobs 0 and 1 only: 1 was cancelled (lost), 2 is Running at this worker but not reported (an orphan).
        var reports = leases.Take(2).Select(l => new JobProgressReport(l.JobId, l.Attempt, 1, 4, 10, 40, 0.25)).ToList();
        var result = await queue.HeartbeatAsync(Cpu, reports);
        Assert.Equal([ids[1]], result.Lost);
        Assert.Equal([(ids[2], 1)], result.Orphans);
        var renewed = await JobAsync(ids[0]);
        Assert.Equal((1, 4, 0.25), (renewed.Epoch, renewed.TotalEpochs, renewed.Progress));

        // The orphan is this worker's own lease (granted by a call whose answer was lost): it claims it, at the same attempt.
        var claimed = Assert.Single(await queue.ClaimOrphansAsync(Cpu, result.Orphans));
        Assert.Equal((ids[2], 1), (claimed.JobId, claimed.Attempt));
        Assert.Empty(await queue.ClaimOrphansAsync(Gpu, result.Orphans)); // not another worker's to claim
        var orphan = await JobAsync(ids[2]);
        Assert.Equal((JobState.Running, 0, 0), (orphan.State, orphan.LostLeases, orphan.Failures));
    }

    [Fact]
    public async Task A_worker_restarted_on_the_same_address_takes_over_from_its_earlier_incarnation()
    {
        var ids = await SubmitAsync("reborn", 2);
        var earlier = Cpu with { WorkerId = "silo-1@127.0.0.1:11111/100" };
        Assert.Equal(2, (await queue.LeaseAsync(earlier, 2)).Count);
        var other = Cpu with { WorkerId = "silo-10@127.0.0.1:11111/100" };
        await queue.HeartbeatAsync(other, []);

        var lost = await queue.LoseLeasesOfEarlierIncarnationsAsync("silo-1@127.0.0.1:11111/200", "silo-1@127.0.0.1:11111/");
        Assert.Equal(ids, lost.Select(l => l.JobId).Order());
        Assert.All(lost, l => Assert.Equal(JobState.Queued, l.State));
        Assert.Contains("was restarted on the same address", lost[0].Reason);
        Assert.All(await Task.WhenAll(ids.Select(JobAsync)), j => Assert.Equal(1, j.LostLeases));
        Assert.Equal(["silo-10@127.0.0.1:11111/100"], (await jobs.ListWorkersAsync(TimeSpan.FromMinutes(1))).Select(w => w.WorkerId));
    }

    [Fact]
    public async Task An_expired_lease_requeues_the_job_without_counting_a_failure_and_a_crash_streak_quarantines_it()
    {
        var id = (await SubmitAsync("expire", 1))[0];
        for (var attempt = 1; attempt <= 2; attempt++)
        {
            Assert.Equal(attempt, Assert.Single(await queue.LeaseAsync(Cpu, 1)).Attempt);
            await ExpireLeaseOfAsync(id);
            var result = await queue.ExpireLeasesAsync();
            Assert.False(result.Outage);
            var lost = Assert.Single(result.Expired);
            Assert.Equal((id, attempt), (lost.JobId, lost.Attempt));
            Assert.Contains("lease expired: worker cpu-1 sent no heartbeat", lost.Reason);
        }
        // Two attempts in a row lost their worker before any checkpoint (QuarantineAfterCrashes = 2): quarantined.
        var job = await JobAsync(id);
        Assert.Equal((JobState.Failed, 2, 0), (job.State, job.LostLeases, job.Failures));
        Assert.StartsWith("quarantined: 2 attempts in a row lost their worker before saving a checkpoint", job.Error);

        // Retry gives it a fresh budget.
        Assert.True((await jobs.RetryAsync(id))!.Value.Changed);
        Assert.Equal(3, Assert.Single(await queue.LeaseAsync(Cpu, 1)).Attempt);
    }

    private async Task<int> CrashStreakAsync(string jobId)
    {
        await using var command = dataSource.CreateCommand("select crash_streak from jobs where job_id = @job");
        command.Parameters.AddWithValue("job", jobId);
        return (int)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task Silos_that_die_together_cost_their_jobs_time_but_count_no_crash()
    {
        var silo1 = new WorkerRegistration("worker@10.0.0.1:11111/1", "silo-1", "cpu", 1, 1024);
        var silo2 = new WorkerRegistration("worker@10.0.0.2:11111/1", "silo-2", "cpu", 1, 1024);
        var (first, second) = ((await SubmitAsync("together", 2))[0], $"together.002");
        for (var round = 1; round <= 3; round++)
        {
            Assert.Single(await queue.LeaseAsync(silo1, 1));
            Assert.Single(await queue.LeaseAsync(silo2, 1));
            // Both fell silent at the same moment (a host or the network went down); silo-1's lease runs out first.
            await ExecuteAsync("update jobs set lease_expires_at = now() - interval '1 second' where worker_id = @w; " +
                "update jobs set lease_expires_at = now() + interval '1 second' where worker_id = @other; update lease_clock set last_tick = now()",
                ("w", silo1.WorkerId), ("other", silo2.WorkerId));
            var lost = Assert.Single((await queue.ExpireLeasesAsync()).Expired);
            Assert.Equal((JobState.Queued, silo1.WorkerId), (lost.State, lost.WorkerId));
            // Later, silo-2's: the death it recorded for silo-1 dates from the same moment.
            await ExecuteAsync("update jobs set lease_expires_at = now() - interval '1 second' where worker_id = @w; update lease_clock set last_tick = now()",
                ("w", silo2.WorkerId));
            Assert.Equal(JobState.Queued, Assert.Single((await queue.ExpireLeasesAsync()).Expired).State);
        }
        // Three rounds of lost leases without a checkpoint, past QuarantineAfterCrashes (2): none was a job's doing.
        foreach (var id in new[] { first, second })
        {
            var job = await JobAsync(id);
            Assert.Equal((JobState.Queued, 3, 0), (job.State, job.LostLeases, job.Failures));
            Assert.Equal(0, await CrashStreakAsync(id));
        }
    }

    [Fact]
    public async Task A_frozen_worker_that_comes_back_takes_its_crash_count_back()
    {
        var id = (await SubmitAsync("thawed", 1))[0];
        var frozen = Assert.Single(await queue.LeaseAsync(Cpu, 1));
        await ExpireLeaseOfAsync(id);
        Assert.Equal(JobState.Queued, Assert.Single((await queue.ExpireLeasesAsync()).Expired).State);
        Assert.Equal(1, await CrashStreakAsync(id));

        var next = Assert.Single(await queue.LeaseAsync(Gpu with { Device = "cpu" }, 1));
        Assert.Equal(2, next.Attempt);
        // The frozen worker thaws and reports its attempt: it was alive all along, so that lost lease was no crash.
        // Its report is refused (the job moved on) and, sent twice, takes the count back once.
        var report = new JobProgressReport(id, frozen.Attempt, 0, 1, 0, 0, 0.5);
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal([id], (await queue.HeartbeatAsync(Cpu, [report])).Lost);
            Assert.Equal(0, await CrashStreakAsync(id));
        }

        // So the second attempt's death is the first crash in a row, not the second: no quarantine.
        await ExpireLeaseOfAsync(id);
        Assert.Equal(JobState.Queued, Assert.Single((await queue.ExpireLeasesAsync()).Expired).State);
        Assert.Equal(1, await CrashStreakAsync(id));
    }

    private static string[] Ids(IReadOnlyList<JobLease> leases) => leases.Select(l => l.JobId).ToArray();

    /// <summary>
    /// The chaos soak's lost job: a worker died running a poison job and an ordinary one, so both became suspects; leased
    /// together again, every later death counted against both and the ordinary job was quarantined with the poison one.
    /// </summary>
    [Fact]
    public async Task A_suspect_job_runs_alone_so_the_next_death_counts_against_it_only()
    {
        var mates = await SubmitAsync("mates", 2);
        var dead = Cpu with { WorkerId = "s2@10.0.0.2:11111/1" };
        Assert.Equal(mates, Ids(await queue.LeaseAsync(dead, 2)));
        var later = await SubmitAsync("later", 3);
        var busy = Cpu with { WorkerId = "s3@10.0.0.3:11111/1" };
        Assert.Equal([later[0]], Ids(await queue.LeaseAsync(busy, 1)));

        // s2 died alone with both jobs, before a checkpoint: each may be the one that killed it.
        var reborn = Cpu with { WorkerId = "s2@10.0.0.2:11111/2" };
        Assert.Equal(2, (await queue.LoseLeasesOfEarlierIncarnationsAsync(reborn.WorkerId, "s2@10.0.0.2:11111/")).Count);
        Assert.Equal(new[] { 1, 1 }, await Task.WhenAll(mates.Select(CrashStreakAsync)));

        // A busy worker passes over the suspects (same priority): it takes the ordinary jobs behind them.
        Assert.Equal(later[1..], Ids(await queue.LeaseAsync(busy, 4)));
        // An idle worker takes one suspect, alone, however many slots it has free, and nothing more while it runs it.
        Assert.Equal([mates[0]], Ids(await queue.LeaseAsync(reborn, 4)));
        var other = Cpu with { WorkerId = "s1@10.0.0.1:11111/1" };
        Assert.Equal([mates[1]], Ids(await queue.LeaseAsync(other, 4)));
        var more = await SubmitAsync("more", 2);
        Assert.Empty(await queue.LeaseAsync(reborn, 3));
        Assert.Empty(await queue.LeaseAsync(other, 3));
        // Their free slots are held free on purpose: the "queue stuck with idle slots" alert does not count them.
        await queue.HeartbeatAsync(reborn, [new JobProgressReport(mates[0], 2, 0, 1, 0, 0, 0)]);
        await queue.HeartbeatAsync(other, [new JobProgressReport(mates[1], 2, 0, 1, 0, 0, 0)]);
        await queue.HeartbeatAsync(busy, [.. later.Select(id => new JobProgressReport(id, 1, 0, 1, 0, 0, 0))]);
        Assert.Equal(1, (await new ClusterHealthStore(dataSource).ReadAsync(TimeSpan.FromMinutes(1))).IdleSlots);

        // The poison one kills its worker again: the death is counted against it alone.
        await ExpireLeaseOfAsync(mates[0]);
        Assert.Equal(JobState.Failed, Assert.Single((await queue.ExpireLeasesAsync()).Expired).State); // quarantined (2 crashes)
        Assert.Equal(1, await CrashStreakAsync(mates[1]));
        // The other one saves a checkpoint: no longer suspect, its worker fills its slots again.
        await checkpoints.SaveAsync(mates[1], 2, new TrainingCheckpoint("noop", 1, 1, null,
            new Dictionary<string, string>(), new Dictionary<string, byte[]> { ["model"] = [1] }));
        Assert.Equal(more, Ids(await queue.LeaseAsync(other, 3)));
        Assert.Equal(JobQueue.ReportOutcome.Applied, await queue.SucceedAsync(mates[1], 2, "{}", new Dictionary<string, double>()));
        Assert.Equal(0, await CrashStreakAsync(mates[1]));
    }

    [Fact]
    public async Task Busy_workers_take_nothing_of_lower_priority_than_a_waiting_suspect()
    {
        var low = await SubmitAsync("low", 3);
        var worker = Cpu with { WorkerId = "w1@10.0.0.1:11111/1" };
        Assert.Equal([low[0]], Ids(await queue.LeaseAsync(worker, 1)));
        var urgent = (await SubmitAsync("urgent", 1, priority: 5))[0];
        Assert.Equal([urgent], Ids(await queue.LeaseAsync(Cpu, 1)));
        await ExpireLeaseOfAsync(urgent);
        Assert.Equal(JobState.Queued, Assert.Single((await queue.ExpireLeasesAsync()).Expired).State);

        // The urgent job is a suspect now: a busy worker may not take it, nor pass it by for lower-priority work. It drains.
        Assert.Empty(await queue.LeaseAsync(worker, 3));
        Assert.True((await jobs.CancelAsync(low[0], "operator"))!.Value.Changed);
        Assert.Equal([urgent], Ids(await queue.LeaseAsync(worker, 3)));
        // With the suspect taken, everyone else takes the lower-priority work again.
        Assert.Equal(low[1..], Ids(await queue.LeaseAsync(Gpu with { Device = "cpu" }, 3)));
    }

    [Fact]
    public async Task A_lost_lease_after_a_checkpoint_breaks_the_crash_streak()
    {
        var id = (await SubmitAsync("progress", 1))[0];
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            Assert.Equal(attempt, Assert.Single(await queue.LeaseAsync(Cpu, 1)).Attempt);
            await checkpoints.SaveAsync(id, attempt, new TrainingCheckpoint("noop", attempt, attempt, null,
                new Dictionary<string, string>(), new Dictionary<string, byte[]> { ["model"] = [1] }));
            await ExpireLeaseOfAsync(id);
            Assert.Equal(JobState.Queued, Assert.Single((await queue.ExpireLeasesAsync()).Expired).State);
        }
        var job = await JobAsync(id);
        Assert.Equal((JobState.Queued, 3), (job.State, job.LostLeases));
    }

    [Fact]
    public async Task After_an_outage_leases_are_extended_instead_of_expired()
    {
        var id = (await SubmitAsync("outage", 1))[0];
        Assert.Single(await queue.LeaseAsync(Cpu, 1));
        // Nobody ticked the lease clock for a minute (the database was down, or every silo), and the lease ran out meanwhile.
        await ExecuteAsync("update jobs set lease_expires_at = now() - interval '10 seconds'; update lease_clock set last_tick = now() - interval '1 minute'");

        var result = await queue.ExpireLeasesAsync();
        Assert.True(result.Outage);
        Assert.True(result.SincePreviousTick >= TimeSpan.FromSeconds(59), $"{result.SincePreviousTick}");
        Assert.Equal(1, result.Extended);
        Assert.Empty(result.Expired);
        var job = await JobAsync(id);
        Assert.Equal((JobState.Running, 0), (job.State, job.LostLeases));

        // The next pass (the clock ticks normally again) has nothing to expire: the worker got a full timeout to renew.
        var next = await queue.ExpireLeasesAsync();
        Assert.False(next.Outage);
        Assert.Empty(next.Expired);
    }

    [Fact]
    public async Task A_keeper_skips_its_pass_while_another_holds_the_lease_clock()
    {
        var id = (await SubmitAsync("skip", 1))[0];
        Assert.Single(await queue.LeaseAsync(Cpu, 1));
        await ExpireLeaseOfAsync(id);
        await using (var other = await dataSource.OpenConnectionAsync())
        await using (var transaction = await other.BeginTransactionAsync())
        {
            await using (var hold = new NpgsqlCommand("select 1 from lease_clock for update", other, transaction))
            {
                await hold.ExecuteNonQueryAsync();
            }
            var skipped = await queue.ExpireLeasesAsync().WaitAsync(TimeSpan.FromSeconds(10)); // does not wait for the other keeper
            Assert.True(skipped.Skipped);
            Assert.Empty(skipped.Expired);
        }
        var next = await queue.ExpireLeasesAsync();
        Assert.False(next.Skipped);
        Assert.Equal(id, Assert.Single(next.Expired).JobId);
    }

    [Fact]
    public async Task Reports_are_fenced_and_safe_to_repeat()
    {
        var id = (await SubmitAsync("report", 1))[0];
        var lease = Assert.Single(await queue.LeaseAsync(Cpu, 1));
        var points = new[] { new MetricSample("noop_tick", 1, 1, 1), new MetricSample("noop_tick", 1, 2, 2) };
        await metrics.WriteAsync(id, 1, points);
        await metrics.WriteAsync(id, 1, points); // re-sent after an answer that never arrived
        Assert.Equal(2, (await metrics.ReadAsync(id, new MetricQuery())).Points.Count);
        // A batch that repeats one stored point among new ones stores the new ones (the per-point statement).
        await metrics.WriteAsync(id, 1, [new MetricSample("noop_tick", 1, 0, 0), points[1], new MetricSample("noop_tick", 1, 4, 4)]);
        Assert.Equal([0L, 1L, 2L, 4L], (await metrics.ReadAsync(id, new MetricQuery())).Points.Select(p => p.Step));

        // A job too short for any heartbeat: its final progress comes with its success (epoch 3/3, not 0/0).
        Assert.Equal(JobQueue.ReportOutcome.Applied, await queue.SucceedAsync(id, lease.Attempt, "{}", new Dictionary<string, double>(), finalEpochs: 3, finalSteps: 30));
        var done = await JobAsync(id);
        Assert.Equal((3, 3, 1.0), (done.Epoch, done.TotalEpochs, done.Progress));
        Assert.Equal(JobQueue.ReportOutcome.AlreadyApplied, await queue.SucceedAsync(id, lease.Attempt, "{}", new Dictionary<string, double>()));
        Assert.Equal(JobQueue.ReportOutcome.Stale, await queue.SucceedAsync(id, lease.Attempt + 1, "{}", new Dictionary<string, double>()));
        Assert.Null(await queue.FailAsync(id, lease.Attempt, "late", retryable: true));
        await Assert.ThrowsAsync<StaleAttemptException>(() => metrics.WriteAsync(id, 1, [new MetricSample("noop_tick", 1, 3, 3)]));
        await using var command = dataSource.CreateCommand("select count(*) from job_events where job_id = @job and to_state = 'Succeeded'");
        command.Parameters.AddWithValue("job", id);
        Assert.Equal(1L, await command.ExecuteScalarAsync());

        // Points have no foreign key (the fence checks the job once per batch): deleting the job still deletes them.
        await using var delete = dataSource.CreateCommand("delete from jobs where job_id = @job; select count(*) from metrics where job_id = @job");
        delete.Parameters.AddWithValue("job", id);
        Assert.Equal(0L, await delete.ExecuteScalarAsync());
    }

    [Fact]
    public async Task A_released_job_is_requeued_with_nothing_counted()
    {
        var id = (await SubmitAsync("release", 1))[0];
        var lease = Assert.Single(await queue.LeaseAsync(Cpu, 1));
        Assert.True(await queue.ReleaseAsync(id, lease.Attempt, "worker stopped: handed back"));
        Assert.False(await queue.ReleaseAsync(id, lease.Attempt, "twice"));
        var job = await JobAsync(id);
        Assert.Equal((JobState.Queued, 0, 0), (job.State, job.Failures, job.LostLeases));
    }

    [Fact]
    public async Task The_database_notifies_listeners_when_jobs_are_queued_and_when_a_running_job_is_cancelled()
    {
        var queued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var stop = new CancellationTokenSource();
        var listener = new QueueListener(dataSource, NullLogger.Instance);
        var connected = 0;
        var listening = listener.RunAsync(() =>
        {
            // The first call says the listener is connected; the next one is a notification.
            if (Interlocked.Increment(ref connected) > 1)
            {
                queued.TrySetResult();
            }
        }, id => cancelled.TrySetResult(id), stop.Token);
        await WaitForAsync(() => Volatile.Read(ref connected) >= 1);

        var id = (await SubmitAsync("notify", 1))[0];
        await queued.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Single(await queue.LeaseAsync(Cpu, 1));
        Assert.True((await jobs.CancelAsync(id, "operator"))!.Value.Changed);
        Assert.Equal(id, await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        await stop.CancelAsync();
        await listening;
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(20);
        }
    }
}
