using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using PunkGrid.Contracts;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Storage;
using PunkGrid.Server.Worker;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// The read models that keep a long history fast (migration 0008) against the rows they stand for: a run's counts by state
/// (appended by triggers, folded by the compactor) always equal its jobs counted, and a downsampled curve read from the
/// 64-step blocks equals the same ranges averaged from the points.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class HistoryReadTests(PostgresServer server) : IAsyncLifetime
{
    private MigratedDatabase database = null!;
    private NpgsqlDataSource dataSource = null!;
    private JobStore jobs = null!;
    private JobQueue queue = null!;
    private MetricStore metrics = null!;

    public async Task InitializeAsync()
    {
        database = await MigratedDatabase.CreateAsync(server, "history");
        (dataSource, jobs, queue) = (database.DataSource, database.Jobs, database.Queue);
        metrics = database.Metrics;
    }

    public async Task DisposeAsync() => await database.DisposeAsync();

    private async Task CreateRunAsync(string runId, int count)
    {
        var spec = new RunSpec(JobKinds.Noop, [], false, "seed", new Dictionary<string, string>(), 0);
        var created = Enumerable.Range(0, count)
            .Select(i => new JobStore.NewJob($"{runId}.{i:D4}", new JobSpec(JobKinds.Noop, null, "seed", new Dictionary<string, string>()), 0, 2, "any"))
            .ToList();
        Assert.True(await jobs.CreateRunAsync(runId, spec, created));
    }

    /// <summary>The run's jobs counted row by row, and its progress as the mean over jobs (finished ones count as 1).</summary>
    private async Task<(Dictionary<string, long> States, double Progress)> CountDirectlyAsync(string runId)
    {
        var states = Enum.GetNames<JobState>().ToDictionary(s => s, _ => 0L);
        await using (var command = dataSource.CreateCommand("select state, count(*) from jobs where run_id = @run group by state"))
        {
            command.Parameters.AddWithValue("run", runId);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                states[reader.GetString(0)] = reader.GetInt64(1);
            }
        }
        await using var progress = dataSource.CreateCommand(
            "select coalesce(avg(case when state in ('Succeeded', 'Failed', 'Cancelled') then 1 else progress end), 0) from jobs where run_id = @run");
        progress.Parameters.AddWithValue("run", runId);
        return (states, (double)(await progress.ExecuteScalarAsync())!);
    }

    private async Task AssertCountsMatchAsync(params string[] runIds)
    {
        var cluster = Enum.GetNames<JobState>().ToDictionary(s => s, _ => 0L);
        foreach (var runId in runIds)
        {
            var (states, progress) = await CountDirectlyAsync(runId);
            var summary = (await jobs.GetRunSummaryAsync(runId))!;
            Assert.Equal(states.Values.Sum(), summary.Total);
            Assert.Equal(states["Queued"], summary.Queued);
            Assert.Equal(states["Running"], summary.Running);
            Assert.Equal(states["Succeeded"], summary.Succeeded);
            Assert.Equal(states["Failed"], summary.Failed);
            Assert.Equal(states["Cancelled"], summary.Cancelled);
            Assert.Equal(progress, summary.Progress, 9);
            foreach (var (state, count) in states)
            {
                cluster[state] += count;
            }
        }
        Assert.Equal(cluster, await jobs.CountJobsByStateAsync());
    }

    [Fact]
    public async Task A_runs_counts_equal_its_jobs_counted_through_every_transition_folded_or_not()
    {
        await CreateRunAsync("counted", 30);
        await CreateRunAsync("other", 5);
        await AssertCountsMatchAsync("counted", "other");
        var random = new Random(14);
        var workers = Enumerable.Range(1, 3).Select(i => new WorkerRegistration($"w{i}", $"silo-{i}", "cpu", 4, 1024)).ToArray();
        var held = new List<(JobLease Lease, WorkerRegistration Worker)>();
        for (var round = 0; round < 60; round++)
        {
            switch (random.Next(7))
            {
                case 0 or 1:
                    var worker = workers[random.Next(workers.Length)];
                    held.AddRange((await queue.LeaseAsync(worker, random.Next(1, 4))).Select(l => (l, worker)));
                    break;
                case 2 when held.Count > 0:
                    var (done, _) = held[random.Next(held.Count)];
                    held.RemoveAll(h => h.Lease.JobId == done.JobId);
                    await queue.SucceedAsync(done.JobId, done.Attempt, "{}", new Dictionary<string, double>());
                    break;
                case 3 when held.Count > 0:
                    var (failed, _) = held[random.Next(held.Count)];
                    held.RemoveAll(h => h.Lease.JobId == failed.JobId);
                    await queue.FailAsync(failed.JobId, failed.Attempt, "boom", retryable: true);
                    break;
                case 4 when held.Count > 0:
                    // Progress reported, then the lease handed back: a Queued job that got somewhere counts its progress.
                    var (moving, by) = held[random.Next(held.Count)];
                    await queue.HeartbeatAsync(by, [new JobProgressReport(moving.JobId, moving.Attempt, 1, 4, 10, 40, 0.25 + random.NextDouble() / 2)]);
                    if (random.Next(2) == 0)
                    {
                        held.RemoveAll(h => h.Lease.JobId == moving.JobId);
                        await queue.ReleaseAsync(moving.JobId, moving.Attempt, "worker stopping");
                    }
                    break;
                case 5:
                    var victim = $"counted.{random.Next(30):D4}";
                    held.RemoveAll(h => h.Lease.JobId == victim);
                    await jobs.CancelAsync(victim, "operator");
                    if (random.Next(3) == 0)
                    {
                        await jobs.RetryAsync(victim);
                    }
                    break;
                default:
                    await jobs.CompactJobCountsAsync();
                    break;
            }
            await AssertCountsMatchAsync("counted", "other");
        }
        await jobs.CompactJobCountsAsync();
        await AssertCountsMatchAsync("counted", "other");
        await using var rows = dataSource.CreateCommand("select count(*) from run_job_counts where run_id = 'counted'");
        Assert.True((long)(await rows.ExecuteScalarAsync())! <= Enum.GetNames<JobState>().Length, "folded: at most one row per state");
    }

    [Fact]
    public async Task Counts_stay_exact_while_workers_lease_and_finish_concurrently_with_the_compactor()
    {
        await CreateRunAsync("busy", 400);
        using var stop = new CancellationTokenSource();
        var compactor = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await jobs.CompactJobCountsAsync();
                await Task.Delay(5);
            }
        });
        var workers = Enumerable.Range(1, 4).Select(i => Task.Run(async () =>
        {
            var worker = new WorkerRegistration($"busy-{i}", $"silo-{i}", "cpu", 8, 1024);
            while (true)
            {
                var leases = await queue.LeaseAsync(worker, 8);
                if (leases.Count == 0)
                {
                    return;
                }
                foreach (var lease in leases)
                {
                    await queue.SucceedAsync(lease.JobId, lease.Attempt, "{}", new Dictionary<string, double>());
                }
            }
        })).ToArray();
        var reader = Task.Run(async () =>
        {
            // Mid-run reads see a consistent total whatever the compactor is doing.
            while (!stop.IsCancellationRequested)
            {
                var summary = (await jobs.GetRunSummaryAsync("busy"))!;
                Assert.Equal(400, summary.Total);
                Assert.Equal(400, summary.Queued + summary.Running + summary.Succeeded);
            }
        });
        await Task.WhenAll(workers);
        stop.Cancel();
        await Task.WhenAll(compactor, reader);
        await AssertCountsMatchAsync("busy");
        Assert.Equal(400, (await jobs.GetRunSummaryAsync("busy"))!.Succeeded);
    }

    [Fact]
    public async Task Upgrading_a_database_with_history_counts_its_runs_and_rolls_up_its_points()
    {
        // The database as it was before migration 0008, with a history written then.
        await using (var undo = dataSource.CreateCommand(
            "drop trigger jobs_counted_inserted on jobs; drop trigger jobs_counted_moved on jobs; drop trigger jobs_counted_deleted on jobs; " +
            "drop trigger metrics_rolled_up on metrics; drop table run_job_counts; drop table metric_blocks; " +
            "drop function punkgrid_count_inserted_jobs(); drop function punkgrid_count_moved_job(); drop function punkgrid_count_deleted_jobs(); " +
            "drop function punkgrid_roll_up_metrics(); drop index jobs_run_partial_progress; " +
            "create unique index metrics_point on metrics (job_id, name, step, attempt); drop index metrics_point_by_step; " +
            "delete from schema_migrations where version = 8"))
        {
            await undo.ExecuteNonQueryAsync();
        }
        await CreateRunAsync("old", 6);
        var worker = new WorkerRegistration("w", "silo-1", "cpu", 2, 1024);
        var leases = await queue.LeaseAsync(worker, 2);
        await queue.SucceedAsync(leases[0].JobId, leases[0].Attempt, "{}", new Dictionary<string, double>());
        await metrics.WriteAsync(leases[1].JobId, leases[1].Attempt,
            [.. Enumerable.Range(0, 1_000).Select(s => new MetricSample("loss", 0, s, 1.0 / (s + 1)))]);

        Assert.Equal([8], await new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance).MigrateAsync());
        await AssertCountsMatchAsync("old");
        var curve = (await metrics.ReadAsync(leases[1].JobId, new MetricQuery("loss", Points: 1))).Points;
        Assert.Equal(Enumerable.Range(0, 1_000).Average(s => 1.0 / (s + 1)), Assert.Single(curve).Value, 12);
        await using var rolled = dataSource.CreateCommand("select count(*), sum(points)::bigint from metric_blocks");
        await using var reader = await rolled.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal((16L, 1_000L), (reader.GetInt64(0), reader.GetInt64(1)));
    }

    [Fact]
    public async Task A_downsampled_curve_from_blocks_equals_the_same_ranges_averaged_from_the_points()
    {
        await CreateRunAsync("curves", 1);
        const string job = "curves.0000";
        var worker = new WorkerRegistration("w", "silo-1", "cpu", 1, 1024);
        var first = Assert.Single(await queue.LeaseAsync(worker, 1));
        var random = new Random(16);
        List<MetricSample> Batch(int fromStep, int toStep) =>
        [
            .. Enumerable.Range(fromStep, toStep - fromStep).Select(s => new MetricSample("lr", s / 1000, s, Math.Exp(-s / 3000.0))),
            .. Enumerable.Range(fromStep, toStep - fromStep).Where(s => s % 7 == 0).Select(s => new MetricSample("loss", s / 1000, s, random.NextDouble())),
            .. Enumerable.Range(fromStep, toStep - fromStep).Where(s => s % 500 == 0).Select(s => new MetricSample("val_f1", s / 1000, s, s / 10_000.0)),
        ];
        for (var from = 0; from < 6_000; from += 1_000)
        {
            var batch = Batch(from, from + 1_000);
            await metrics.WriteAsync(job, first.Attempt, batch);
            if (from == 2_000)
            {
                await metrics.WriteAsync(job, first.Attempt, batch); // re-sent after an ambiguous failure: adds nothing
            }
        }
        // The attempt dies; the next one resumes from step 4,200 and writes those steps again under its own attempt.
        await queue.FailAsync(job, first.Attempt, "worker lost", retryable: true);
        var second = Assert.Single(await queue.LeaseAsync(worker, 1));
        await metrics.WriteAsync(job, second.Attempt, Batch(4_200, 9_001));

        var all = new List<MetricPoint>();
        for (MetricPage page = new([], -1); page.NextAfterStep is { } cursor;)
        {
            page = await metrics.ReadAsync(job, new MetricQuery(AfterStep: cursor, Limit: 5_000));
            all.AddRange(page.Points);
        }
        // attempt 1: lr 6,000 + loss 858 + val_f1 12; attempt 2 (steps 4,200-9,000): lr 4,801 + loss 686 + val_f1 10; the re-sent batch adds none.
        Assert.Equal(6_000 + 858 + 12 + 4_801 + 686 + 10, all.Count);
        await using (var rolled = dataSource.CreateCommand("select sum(points)::bigint from metric_blocks where job_id = @job"))
        {
            rolled.Parameters.AddWithValue("job", job);
            Assert.Equal(all.Count, (long)(await rolled.ExecuteScalarAsync())!);
        }

        foreach (var after in new long[] { -1, 0, 63, 64, 100, 3_000, 8_990 })
        {
            foreach (var points in new[] { 1, 2, 7, 50, 500, 10_000 })
            {
                var read = (await metrics.ReadAsync(job, new MetricQuery(AfterStep: after, Limit: MetricQuery.MaxLimit, Points: points))).Points;
                foreach (var name in new[] { "lr", "loss", "val_f1" })
                {
                    var raw = all.Where(p => p.Name == name && p.Step > after).ToList();
                    var got = read.Where(p => p.Name == name).ToList();
                    Assert.True(got.Count <= points, $"{name} after {after}: {got.Count} points for {points} asked");
                    List<MetricPoint> expected;
                    if (raw.Count <= points)
                    {
                        expected = raw;
                    }
                    else
                    {
                        var cut = MetricDownsampling.Plan(raw.Count, raw.Min(p => p.Step), raw.Max(p => p.Step), points);
                        expected = raw.GroupBy(p => (p.Step - cut.Base) / cut.Width)
                            .Select(g => new MetricPoint(g.Max(p => p.Attempt), g.Max(p => p.Epoch), g.Max(p => p.Step), name, g.Average(p => p.Value)))
                            .ToList();
                        if (points == 1)
                        {
                            Assert.Equal(raw.Average(p => p.Value), Assert.Single(got).Value, 9);
                        }
                    }
                    expected = [.. expected.OrderBy(p => p.Step).ThenBy(p => p.Attempt)];
                    Assert.Equal(expected.Count, got.Count);
                    foreach (var (want, have) in expected.Zip(got))
                    {
                        Assert.Equal((want.Step, want.Attempt, want.Epoch), (have.Step, have.Attempt, have.Epoch));
                        Assert.Equal(want.Value, have.Value, 9);
                    }
                }
            }
        }
    }
}
