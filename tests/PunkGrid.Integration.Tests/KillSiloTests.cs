using System.Text.Json;

namespace PunkGrid.Integration.Tests;

/// <summary>A worker silo killed with SIGKILL mid-job costs nothing but time: the job resumes on the other silo from its checkpoint.</summary>
[Collection(KillCollection.Name)]
public sealed class KillSiloTests(KillFixture cluster)
{
    /// <summary>Waits for a checkpoint (epoch ≥ 1) while the first attempt still runs, then SIGKILLs the silo running it; returns the other.</summary>
    private async Task<SiloProcess> KillTheSiloRunningItAfterItsFirstCheckpointAsync(string job)
    {
        await cluster.WaitUntilAsync(async () =>
            await cluster.CountAsync("select count(*) from checkpoints where job_id = @id", job) > 0
            && await cluster.StateOfAsync(job) == "Running", TimeSpan.FromMinutes(3), $"a first checkpoint of {job}");
        var worker = await cluster.ScalarAsync("select worker_id from jobs where job_id = @id", job);
        var victim = cluster.Silos.Single(s => worker.StartsWith(s.Name + "@", StringComparison.Ordinal));
        victim.Kill();
        return cluster.Silos.Single(s => s != victim);
    }

    /// <summary>The first attempt lost its lease (requeued), and the last attempt ran on <paramref name="survivor"/>; returns that attempt.</summary>
    private async Task<int> AssertTheLeaseWasLostAndTheLastAttemptRanOnAsync(string job, SiloProcess survivor)
    {
        var events = JsonDocument.Parse((await cluster.Cli("status", job, "--json")).Out).RootElement.GetProperty("events").EnumerateArray().ToList();
        Assert.Contains(events, e => e.GetProperty("attempt").GetInt32() == 1 && e.GetProperty("to_state").GetString() == "Queued"
            && e.GetProperty("detail").GetString()!.Contains("lease expired", StringComparison.Ordinal));
        var finalRun = events.Last(e => e.GetProperty("to_state").GetString() == "Running");
        Assert.StartsWith(survivor.Name + "@", finalRun.GetProperty("worker_id").GetString());
        var finalAttempt = finalRun.GetProperty("attempt").GetInt32();
        Assert.True(finalAttempt >= 2);
        return finalAttempt;
    }

    [Fact]
    public async Task A_killed_silos_job_finishes_on_the_other_silo_resumed_from_its_checkpoint()
    {
        await cluster.ReplaceExitedSilosAsync();
        const string job = "kill-run.hoodie";
        const int epochs = 5;
        var submit = await cluster.Cli("submit", "traits", "--traits", "Hoodie", "--profile", "quick", "--epochs", $"{epochs}",
            "--train-samples", "2000", "--run-id", "kill-run");
        Assert.True(submit.Exit == 0, submit.Error);

        var survivor = await KillTheSiloRunningItAfterItsFirstCheckpointAsync(job);
        await cluster.WaitUntilAsync(async () => await cluster.StateOfAsync(job) == "Succeeded", TimeSpan.FromMinutes(4), "the job to finish on the survivor");
        var finalAttempt = await AssertTheLeaseWasLostAndTheLastAttemptRanOnAsync(job, survivor);

        // It resumed from the checkpoint: its first step is past epoch 0, and together the attempts cover every step.
        var steps = JsonDocument.Parse((await cluster.Cli("metrics", job, "--name", "train_loss", "--json")).Out).RootElement.EnumerateArray()
            .Select(p => (Attempt: p.GetProperty("attempt").GetInt32(), Epoch: p.GetProperty("epoch").GetInt32(), Step: p.GetProperty("step").GetInt64()))
            .ToList();
        var resumed = steps.Where(s => s.Attempt == finalAttempt).ToList();
        Assert.True(resumed.Min(s => s.Epoch) > 1, $"the last attempt started at epoch {resumed.Min(s => s.Epoch)}");
        var stepsPerEpoch = 2000 / 100;
        Assert.Equal(Enumerable.Range(1, epochs * stepsPerEpoch).Select(i => (long)i), steps.Select(s => s.Step).Distinct().Order());
        Assert.Equal(epochs * stepsPerEpoch, resumed.Max(s => s.Step));

        // The job's log tells the story: attempt 1 from scratch, its lease expiring (said by the queue, since its worker
        // died), the last attempt resuming from a checkpoint on the survivor, and its epochs.
        var log = await cluster.Cli("logs", job);
        Assert.True(log.Exit == 0, log.Error);
        Assert.Contains($"#1 Information worker  Job {job} attempt 1: starting from scratch", log.Out);
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(log.Out, $@"#1 Warning +queue +Job {System.Text.RegularExpressions.Regex.Escape(job)} attempt 1: lease expired"), log.Out);
        Assert.Matches($@"#{finalAttempt} Information worker  Job {System.Text.RegularExpressions.Regex.Escape(job)} attempt {finalAttempt}: starting from the checkpoint of epoch [1-4] ", log.Out);
        Assert.Contains($"#{finalAttempt} Information trainer Trait Hoodie epoch {epochs}/{epochs}", log.Out);
        Assert.Contains($"Leased {job} (attempt {finalAttempt}) to worker {survivor.Name}@", log.Out);

        // The lost lease is traced (a requeue span) and counted, exported over OTLP by the surviving silo.
        await cluster.WaitUntilAsync(() => Task.FromResult(cluster.Otlp.SpanNames().Contains("requeue")
            && cluster.Otlp.MetricNames().Contains("punkgrid.lease.expirations")), TimeSpan.FromSeconds(30), "the requeue over OTLP");
    }

    /// <summary>
    /// The same for the other kinds: killed after their first checkpoint, each finishes on the survivor, its last attempt
    /// starting past epoch 1, the attempts together covering every epoch, its artifacts stored.
    /// </summary>
    [Theory]
    [InlineData("vae", "test_mse", new[] { "--set", "train_limit=256", "--set", "test_limit=32", "--set", "batch_size=32", "--set", "judge_epochs=0" })]
    [InlineData("gan", "g_loss", new[] { "--set", "train_limit=256", "--set", "batch_size=32", "--set", "judge_epochs=0" })]
    [InlineData("pokemon", "validation_accuracy", new[] { "--set", "class_limit=6" })]
    public async Task A_killed_silos_generative_or_pokemon_job_resumes_on_the_other_silo(string kind, string epochMetric, string[] settings)
    {
        await cluster.ReplaceExitedSilosAsync();
        const int epochs = 4;
        var run = $"kill-{kind}";
        var job = $"{run}.{kind}";
        var submit = await cluster.Cli(["submit", kind, "--profile", "quick", "--epochs", $"{epochs}", .. settings, "--run-id", run]);
        Assert.True(submit.Exit == 0, submit.Error);

        var survivor = await KillTheSiloRunningItAfterItsFirstCheckpointAsync(job);
        await cluster.WaitUntilAsync(async () => await cluster.StateOfAsync(job) is "Succeeded" or "Failed", TimeSpan.FromMinutes(5), $"the {kind} job to finish on the survivor");
        Assert.Equal("Succeeded", await cluster.StateOfAsync(job));
        var finalAttempt = await AssertTheLeaseWasLostAndTheLastAttemptRanOnAsync(job, survivor);

        var points = JsonDocument.Parse((await cluster.Cli("metrics", job, "--name", epochMetric, "--json")).Out).RootElement.EnumerateArray()
            .Select(p => (Attempt: p.GetProperty("attempt").GetInt32(), Epoch: p.GetProperty("epoch").GetInt32())).ToList();
        Assert.True(points.Where(p => p.Attempt == finalAttempt).Min(p => p.Epoch) > 1, $"the last attempt re-ran epoch 1: {string.Join(", ", points)}");
        Assert.Equal(Enumerable.Range(1, epochs), points.Select(p => p.Epoch).Distinct().Order());
        Assert.True(await cluster.CountAsync("select count(*) from artifacts where job_id = @id and name = 'eval.json'", job) == 1);
    }

    /// <summary>A schedule outlives every silo: all are killed and replaced, and its reminder (in PostgreSQL) fires again.</summary>
    [Fact]
    public async Task A_schedule_keeps_firing_after_every_silo_is_restarted()
    {
        await cluster.ReplaceExitedSilosAsync();
        var add = await cluster.Cli("schedule", "add", "--name", "survivor", "--cron", "*/2 * * * * *", "--",
            "traits", "--traits", "Mole", "--profile", "quick", "--epochs", "1", "--train-samples", "100");
        Assert.True(add.Exit == 0, add.Error);
        try
        {
            await cluster.WaitUntilAsync(async () => await cluster.CountAsync("select count(*) from runs where run_id like @id || '-%'", "survivor") > 0,
                TimeSpan.FromMinutes(2), "a first scheduled run");
            foreach (var silo in cluster.Silos)
            {
                silo.Kill();
            }
            var restarted = DateTimeOffset.UtcNow;
            await cluster.ReplaceExitedSilosAsync();
            await cluster.WaitUntilAsync(async () =>
            {
                await using var command = cluster.Database.CreateCommand("select count(*) from runs where run_id like 'survivor-%' and created_at > @t");
                command.Parameters.AddWithValue("t", restarted);
                return (long)(await command.ExecuteScalarAsync())! > 0;
            }, TimeSpan.FromMinutes(3), "a scheduled run after the restart");
        }
        finally
        {
            await cluster.Cli("schedule", "remove", "survivor");
        }
        await cluster.WaitUntilAsync(async () => await cluster.CountAsync("select count(*) from jobs where run_id like @id || '-%' and state in ('Queued', 'Running')", "survivor") == 0,
            TimeSpan.FromMinutes(2), "the scheduled runs to finish");
    }
}
