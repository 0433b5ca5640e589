using PunkGrid.Contracts;
using PunkGrid.Server;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Storage;
using PunkGrid.Server.Worker;
using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// Retention on a real PostgreSQL: runs that ended before the cutoff lose their logs, metric points between epoch ends
/// and checkpoints; what serves (results, artifacts, models) and every newer or unfinished run stays.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class RetentionTests(PostgresServer server) : IAsyncLifetime
{
    private MigratedDatabase database = null!;
    private RetentionStore retention = null!;

    private static readonly WorkerRegistration W1 = new("w1", "silo-1", "cpu", 8, 1024);

    public async Task InitializeAsync()
    {
        database = await MigratedDatabase.CreateAsync(server, "retention");
        retention = new RetentionStore(database.DataSource);
    }

    public async Task DisposeAsync() => await database.DisposeAsync();

    /// <summary>A one-job run that trained 2 epochs of 100 steps: a loss per step, an F1 per epoch, 2 checkpoints, 3 log lines, a model.</summary>
    private async Task<string> TrainedRunAsync(string runId, bool finish = true, TimeSpan? endedAgo = null)
    {
        var job = new JobStore.NewJob($"{runId}.male", new JobSpec(JobKinds.Trait, "Male", "quick", new Dictionary<string, string>()), 0, 3, "any");
        Assert.True(await database.Jobs.CreateRunAsync(runId, new RunSpec(JobKinds.Trait, ["Male"], false, "quick", new Dictionary<string, string>(), 0), [job]));
        var lease = Assert.Single(await database.Queue.LeaseAsync(W1, 1));
        Assert.Equal(job.JobId, lease.JobId);
        foreach (var epoch in new[] { 1, 2 })
        {
            var samples = Enumerable.Range((epoch - 1) * 100 + 1, 100).Select(step => new MetricSample("train_loss", epoch, step, 1.0 / step)).ToList();
            samples.Add(new MetricSample("test_f1", epoch, epoch * 100, 0.5 + epoch / 10.0));
            await database.Metrics.WriteAsync(job.JobId, 1, samples);
            await database.Checkpoints.SaveAsync(job.JobId, 1, new TrainingCheckpoint("trait", epoch, epoch * 100, 0.5, new Dictionary<string, string>(),
                new Dictionary<string, byte[]> { ["model"] = new byte[1000] }));
        }
        await database.Artifacts.SaveAsync(job.JobId, 1, "model.bin", "application/octet-stream", [1, 2, 3]);
        await database.Logs.WriteAsync(Enumerable.Range(1, 3).Select(i => new JobLogEntry(Guid.NewGuid(), job.JobId, 1, DateTimeOffset.UtcNow, "Information", "trainer", $"line {i}")).ToList(), 100);
        if (finish)
        {
            Assert.Equal(JobQueue.ReportOutcome.Applied, await database.Queue.SucceedAsync(job.JobId, 1, "{}", new Dictionary<string, double> { ["f1"] = 0.7 }, 2, 200));
        }
        if (endedAgo is { } ago)
        {
            await using var command = database.DataSource.CreateCommand("""
                update runs set created_at = now() - @ago - interval '1 hour' where run_id = @run;
                update jobs set finished_at = case when finished_at is null then null else now() - @ago end, updated_at = now() - @ago where run_id = @run;
                """);
            command.Parameters.AddWithValue("ago", ago);
            command.Parameters.AddWithValue("run", runId);
            await command.ExecuteNonQueryAsync();
        }
        return job.JobId;
    }

    private async Task<long> CountAsync(string sql, string job)
    {
        await using var command = database.DataSource.CreateCommand(sql);
        command.Parameters.AddWithValue("job", job);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task Old_runs_lose_logs_checkpoints_and_metric_points_between_epoch_ends_and_keep_what_serves()
    {
        var old = await TrainedRunAsync("old", endedAgo: TimeSpan.FromDays(40));
        var recent = await TrainedRunAsync("recent", endedAgo: TimeSpan.FromDays(2));
        var unfinished = await TrainedRunAsync("unfinished", finish: false, endedAgo: TimeSpan.FromDays(40));

        var preview = await retention.CollectAsync(new RetentionRequest(TimeSpan.FromDays(30), DryRun: true));
        Assert.NotNull(preview);
        Assert.Equal(["old"], preview.Runs);
        // 3 lines; of 202 points, the last of each metric's epoch stays (train_loss at 100 and 200, test_f1 at 100 and 200); 2 checkpoints.
        Assert.Equal((3L, 198L, 2L, true), (preview.LogLines, preview.MetricPoints, preview.Checkpoints, preview.DryRun));
        Assert.True(preview.CheckpointBytes > 2000);
        Assert.Equal(202, await CountAsync("select count(*) from metrics where job_id = @job", old)); // a dry run removes nothing

        var report = await retention.CollectAsync(new RetentionRequest(TimeSpan.FromDays(30)));
        Assert.NotNull(report);
        Assert.Equal(["old"], report.Runs);
        Assert.Equal((3L, 198L, 2L, preview.CheckpointBytes, 0), (report.LogLines, report.MetricPoints, report.Checkpoints, report.CheckpointBytes, report.Remaining));

        Assert.Equal(0, await CountAsync("select count(*) from job_logs where job_id = @job", old));
        Assert.Equal(0, await CountAsync("select count(*) from checkpoints where job_id = @job", old));
        Assert.Null(await database.Checkpoints.LatestAsync(old));
        // The curves stay, per epoch: every metric's last point of each epoch, and the roll-ups agree with the points kept.
        var kept = (await database.Metrics.ReadAsync(old, new MetricQuery())).Points;
        Assert.Equal([(100L, "test_f1"), (100L, "train_loss"), (200L, "test_f1"), (200L, "train_loss")], kept.Select(p => (p.Step, p.Name)));
        Assert.Equal(2, await CountAsync("select sum(points)::bigint from metric_blocks where job_id = @job and name = 'train_loss'", old));
        Assert.Equal(2, (await database.Metrics.ReadAsync(old, new MetricQuery("train_loss", Points: 10))).Points.Count);
        // What serves stays: the job, its result, its model.
        Assert.NotNull(await database.Artifacts.ReadAsync(old, "model.bin"));
        Assert.Equal("Succeeded", (await database.Jobs.GetJobAsync(old))!.Value.Summary.State.ToString());

        foreach (var untouched in new[] { recent, unfinished })
        {
            Assert.Equal(3, await CountAsync("select count(*) from job_logs where job_id = @job", untouched));
            Assert.Equal(2, await CountAsync("select count(*) from checkpoints where job_id = @job", untouched));
            Assert.Equal(202, await CountAsync("select count(*) from metrics where job_id = @job", untouched));
        }
        var again = await retention.CollectAsync(new RetentionRequest(TimeSpan.FromDays(30)));
        Assert.Empty(again!.Runs); // nothing left to remove
        Assert.Equal(["recent"], (await retention.CollectAsync(new RetentionRequest(TimeSpan.FromDays(1), DryRun: true)))!.Runs);
    }

    [Fact]
    public async Task A_long_collection_is_a_series_of_short_calls_with_one_cutoff()
    {
        foreach (var run in new[] { "page-1", "page-2", "page-3" })
        {
            await TrainedRunAsync(run, endedAgo: TimeSpan.FromDays(10));
        }
        var first = (await retention.CollectAsync(new RetentionRequest(TimeSpan.FromDays(5), MaxRuns: 2)))!;
        Assert.Equal((2, 1), (first.Runs.Count, first.Remaining));
        var second = (await retention.CollectAsync(new RetentionRequest(TimeSpan.Zero, first.Cutoff, MaxRuns: 2)))!;
        Assert.Equal(["page-3"], second.Runs);
        Assert.Equal((0, first.Cutoff), (second.Remaining, second.Cutoff));
    }

    [Fact]
    public void Retention_settings_out_of_range_are_refused_naming_each()
    {
        var result = new RetentionOptions.Validator().Validate(null, new RetentionOptions { OlderThan = TimeSpan.FromSeconds(5), Interval = TimeSpan.Zero });
        Assert.True(result.Failed);
        Assert.Contains("PunkGrid:Retention:OlderThan 00:00:05 is not allowed: at least a minute", result.FailureMessage);
        Assert.Contains("PunkGrid:Retention:Interval 00:00:00 is not allowed", result.FailureMessage);
        Assert.True(new RetentionOptions.Validator().Validate(null, new RetentionOptions()).Succeeded); // off by default
    }
}
