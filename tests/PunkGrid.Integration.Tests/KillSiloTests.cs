using System.Text.Json;

namespace PunkGrid.Integration.Tests;

/// <summary>A worker silo killed with SIGKILL mid-job costs nothing but time: the job resumes on the other silo from its checkpoint.</summary>
[Collection(KillCollection.Name)]
public sealed class KillSiloTests(KillFixture cluster)
{
    [Fact]
    public async Task A_killed_silos_job_finishes_on_the_other_silo_resumed_from_its_checkpoint()
    {
        const string job = "kill-run.hoodie";
        const int epochs = 5;
        var submit = await cluster.Cli("submit", "traits", "--traits", "Hoodie", "--profile", "quick", "--epochs", $"{epochs}",
            "--train-samples", "2000", "--run-id", "kill-run");
        Assert.True(submit.Exit == 0, submit.Error);

        // Wait for a checkpoint (epoch ≥ 1) while the first attempt still runs, then kill the silo running it.
        await cluster.WaitUntilAsync(async () =>
            await cluster.CountAsync("select count(*) from checkpoints where job_id = @id", job) > 0
            && await cluster.StateOfAsync(job) == "Running", TimeSpan.FromMinutes(3), "a first checkpoint");
        var worker = await cluster.ScalarAsync("select worker_id from jobs where job_id = @id", job);
        var victim = cluster.Silos.Single(s => worker.StartsWith(s.Name + "@", StringComparison.Ordinal));
        var survivor = cluster.Silos.Single(s => s != victim);
        victim.Kill();

        await cluster.WaitUntilAsync(async () => await cluster.StateOfAsync(job) == "Succeeded", TimeSpan.FromMinutes(4), "the job to finish on the survivor");

        // The first attempt lost its lease; the second ran on the survivor.
        var events = JsonDocument.Parse((await cluster.Cli("status", job, "--json")).Out).RootElement.GetProperty("events").EnumerateArray().ToList();
        Assert.Contains(events, e => e.GetProperty("attempt").GetInt32() == 1 && e.GetProperty("to_state").GetString() == "Queued"
            && e.GetProperty("detail").GetString()!.Contains("lease expired", StringComparison.Ordinal));
        var finalRun = events.Last(e => e.GetProperty("to_state").GetString() == "Running");
        Assert.StartsWith(survivor.Name + "@", finalRun.GetProperty("worker_id").GetString());
        var finalAttempt = finalRun.GetProperty("attempt").GetInt32();
        Assert.True(finalAttempt >= 2);

        // It resumed from the checkpoint: its first step is past epoch 0, and together the attempts cover every step.
        var steps = JsonDocument.Parse((await cluster.Cli("metrics", job, "--name", "train_loss", "--json")).Out).RootElement.EnumerateArray()
            .Select(p => (Attempt: p.GetProperty("attempt").GetInt32(), Epoch: p.GetProperty("epoch").GetInt32(), Step: p.GetProperty("step").GetInt64()))
            .ToList();
        var resumed = steps.Where(s => s.Attempt == finalAttempt).ToList();
        Assert.True(resumed.Min(s => s.Epoch) > 1, $"the last attempt started at epoch {resumed.Min(s => s.Epoch)}");
        var stepsPerEpoch = 2000 / 100;
        Assert.Equal(Enumerable.Range(1, epochs * stepsPerEpoch).Select(i => (long)i), steps.Select(s => s.Step).Distinct().Order());
        Assert.Equal(epochs * stepsPerEpoch, resumed.Max(s => s.Step));
    }
}
