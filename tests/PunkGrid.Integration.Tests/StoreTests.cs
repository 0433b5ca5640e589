using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using PunkGrid.Contracts;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Storage;
using PunkGrid.Server.Worker;
using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Integration.Tests;

/// <summary>The PostgreSQL stores on a real server: migrations, transitions, fencing, retention, verification on read.</summary>
[Collection(PostgresCollection.Name)]
public sealed class StoreTests(PostgresServer server) : IAsyncLifetime
{
    private MigratedDatabase database = null!;
    private NpgsqlDataSource dataSource = null!;
    private JobStore jobs = null!;
    private JobQueue queue = null!;
    private CheckpointStore checkpoints = null!;
    private MetricStore metrics = null!;
    private ArtifactStore artifacts = null!;

    private static readonly WorkerRegistration W1 = new("w1", "silo-1", "cpu", 4, 1024);
    private static readonly WorkerRegistration W2 = new("w2", "silo-2", "cpu", 4, 1024);

    public async Task InitializeAsync()
    {
        database = await MigratedDatabase.CreateAsync(server, "stores");
        (dataSource, jobs, queue) = (database.DataSource, database.Jobs, database.Queue);
        (checkpoints, metrics, artifacts) = (database.Checkpoints, database.Metrics, database.Artifacts);
    }

    public async Task DisposeAsync() => await database.DisposeAsync();

    private static RunSpec Spec(params string[] traits) =>
        new(JobKinds.Trait, traits, false, "quick", new Dictionary<string, string>(), 0);

    private async Task<string> NewRunningJobAsync(string runId)
    {
        var job = new JobStore.NewJob($"{runId}.male", new JobSpec(JobKinds.Trait, "Male", "quick", new Dictionary<string, string>()), 0, 3, "any");
        Assert.True(await jobs.CreateRunAsync(runId, Spec("Male"), [job]));
        Assert.Equal(1, (await LeaseAsync(job.JobId, W1)).Attempt);
        return job.JobId;
    }

    /// <summary>Leases one job (each test has a database of its own, so it is the one asked for).</summary>
    private async Task<JobLease> LeaseAsync(string jobId, WorkerRegistration worker)
    {
        var lease = Assert.Single(await queue.LeaseAsync(worker, 1));
        Assert.Equal(jobId, lease.JobId);
        return lease;
    }

    private static TrainingCheckpoint Checkpoint(int epoch, double score) =>
        new("trait", epoch, epoch * 10, score, new Dictionary<string, string>(), new Dictionary<string, byte[]> { ["model"] = [(byte)epoch] });

    [Fact]
    public async Task Migrations_create_every_table_and_applying_them_again_changes_nothing()
    {
        Assert.Empty(await new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance).MigrateAsync());
        await using var command = dataSource.CreateCommand("select table_name from information_schema.tables where table_schema = 'public'");
        var tables = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                tables.Add(reader.GetString(0));
            }
        }
        foreach (var table in new[] { "runs", "jobs", "job_events", "metrics", "checkpoints", "artifacts", "schedules", "workers", "cluster_members", "cluster_reminders", "schema_migrations", "run_job_counts", "metric_blocks" })
        {
            Assert.Contains(table, tables);
        }
    }

    [Fact]
    public async Task Creating_a_run_twice_is_a_no_op()
    {
        var job = new JobStore.NewJob("twice.male", new JobSpec(JobKinds.Trait, "Male", "quick", new Dictionary<string, string>()), 0, 3, "any");
        Assert.True(await jobs.CreateRunAsync("twice", Spec("Male"), [job]));
        Assert.False(await jobs.CreateRunAsync("twice", Spec("Male"), [job]));
        Assert.Equal(1, (await jobs.GetRunSummaryAsync("twice"))!.Total);
    }

    [Fact]
    public async Task A_stale_attempts_checkpoint_metrics_and_artifacts_are_rejected()
    {
        var jobId = await NewRunningJobAsync("stale");
        await checkpoints.SaveAsync(jobId, 1, Checkpoint(1, 0.5));

        // Attempt 1 failed (retryable): attempt 2 holds the job now.
        Assert.Equal(JobState.Queued, await queue.FailAsync(jobId, 1, "boom", retryable: true));
        Assert.Equal(2, (await LeaseAsync(jobId, W2)).Attempt);

        var stale = await Assert.ThrowsAsync<StaleAttemptException>(() => checkpoints.SaveAsync(jobId, 1, Checkpoint(2, 0.9)));
        Assert.Contains("attempt 1 no longer holds the job (it is Running at attempt 2)", stale.Message);
        await Assert.ThrowsAsync<StaleAttemptException>(() => metrics.WriteAsync(jobId, 1, [new MetricSample("train_loss", 2, 11, 0.1)]));
        await Assert.ThrowsAsync<StaleAttemptException>(() => artifacts.SaveAsync(jobId, 1, "eval.json", "application/json", [1]));
        Assert.Equal(JobQueue.ReportOutcome.Stale, await queue.SucceedAsync(jobId, 1, "{}", new Dictionary<string, double>()));

        // Nothing of the stale attempt landed; the current one writes freely.
        Assert.Equal(1, (await checkpoints.LatestAsync(jobId))!.Epoch);
        Assert.Empty((await metrics.ReadAsync(jobId, new MetricQuery())).Points);
        await metrics.WriteAsync(jobId, 2, [new MetricSample("train_loss", 2, 11, 0.1)]);
        Assert.Equal(2, (await metrics.ReadAsync(jobId, new MetricQuery("train_loss"))).Points.Single().Attempt);
    }

    [Fact]
    public async Task Checkpoint_retention_keeps_the_last_two_and_the_best()
    {
        var jobId = await NewRunningJobAsync("retention");
        foreach (var (epoch, score) in new[] { (1, 0.5), (2, 0.9), (3, 0.6), (4, 0.7), (5, 0.65) })
        {
            await checkpoints.SaveAsync(jobId, 1, Checkpoint(epoch, score));
        }
        await using var command = dataSource.CreateCommand("select epoch from checkpoints where job_id = @job order by epoch");
        command.Parameters.AddWithValue("job", jobId);
        var kept = new List<int>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                kept.Add(reader.GetInt32(0));
            }
        }
        Assert.Equal([2, 4, 5], kept);
    }

    [Fact]
    public async Task A_corrupt_checkpoint_row_is_skipped_on_read_and_kept()
    {
        var jobId = await NewRunningJobAsync("corrupt");
        await checkpoints.SaveAsync(jobId, 1, Checkpoint(1, 0.5));
        await checkpoints.SaveAsync(jobId, 1, Checkpoint(2, 0.6));
        await using (var corrupt = dataSource.CreateCommand("update checkpoints set data = set_byte(data, 20, 0) where job_id = @job and epoch = 2"))
        {
            corrupt.Parameters.AddWithValue("job", jobId);
            Assert.Equal(1, await corrupt.ExecuteNonQueryAsync());
        }
        Assert.Equal(1, (await checkpoints.LatestAsync(jobId))!.Epoch);
        await using var count = dataSource.CreateCommand("select count(*) from checkpoints where job_id = @job");
        count.Parameters.AddWithValue("job", jobId);
        Assert.Equal(2L, await count.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Transitions_are_recorded_and_bounded_by_failures()
    {
        var jobId = await NewRunningJobAsync("bounded");
        Assert.Equal(JobState.Queued, await queue.FailAsync(jobId, 1, "boom", retryable: true));
        await LeaseAsync(jobId, W1);
        Assert.Equal(JobState.Queued, await queue.FailAsync(jobId, 2, "boom", retryable: true));
        await LeaseAsync(jobId, W1);
        Assert.Equal(JobState.Failed, await queue.FailAsync(jobId, 3, "boom again", retryable: true)); // 3 of 3 spent
        Assert.Null(await queue.FailAsync(jobId, 3, "late", retryable: true));
        var failed = (await jobs.GetJobAsync(jobId))!.Value.Summary;
        Assert.Equal(("boom again", 3, 3), (failed.Error, failed.Failures, failed.MaxFailures));

        Assert.True((await jobs.RetryAsync(jobId))!.Value.Changed);
        Assert.Equal(0, (await jobs.GetJobAsync(jobId))!.Value.Summary.Failures);
        var events = await jobs.GetEventsAsync(jobId);
        Assert.Equal(["Queued", "Running", "Queued", "Running", "Queued", "Running", "Failed", "Queued"], events.Select(e => e.ToState));
        Assert.Equal(JobState.Cancelled, (await jobs.CancelAsync(jobId, "operator"))!.Value.State);
        Assert.False((await jobs.CancelAsync(jobId, "again"))!.Value.Changed);
        Assert.Null(await jobs.CancelAsync("no-such-job", "x"));
    }
}
