using System.Text.Json;
using PunkGrid.Client;

namespace PunkGrid.Integration.Tests;

/// <summary>Scheduled retraining through the real CLI: cron schedules fired by reminders persisted in PostgreSQL.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ScheduleTests(ClusterFixture cluster)
{
    private static readonly string[] TinyRun = ["--", "traits", "--traits", "Mole", "--profile", "quick", "--epochs", "1", "--train-samples", "100"];

    [Theory]
    [InlineData("--cron", "61 * * * *", "UTC", "cron '61 * * * *' is not valid")]
    [InlineData("--cron", "* * *", "UTC", "cron '* * *' has 3 fields")]
    [InlineData("--cron", "0 3 * * *", "Mars/Olympus", "time zone 'Mars/Olympus' is unknown")]
    public async Task A_bad_cron_or_time_zone_is_refused_naming_it(string option, string cron, string zone, string message)
    {
        var (exit, _, error) = await cluster.Cli(["schedule", "add", "--name", "bad", option, cron, "--time-zone", zone, .. TinyRun]);
        Assert.Equal(PunkGridCommandLine.BadInput, exit);
        Assert.Contains(message, error);
        Assert.DoesNotContain("\"bad\"", (await cluster.Cli("schedule", "list", "--json")).Out);
    }

    [Fact]
    public async Task A_bad_run_after_the_separator_is_refused()
    {
        var unknownTrait = await cluster.Cli("schedule", "add", "--name", "bad-run", "--cron", "0 3 * * *", "--", "traits", "--traits", "Wings");
        Assert.Equal(PunkGridCommandLine.BadInput, unknownTrait.Exit);
        Assert.Contains("unknown trait 'Wings'", unknownTrait.Error);
        var notASubmitLine = await cluster.Cli("schedule", "add", "--name", "bad-run", "--cron", "0 3 * * *", "--", "mnist");
        Assert.Equal(PunkGridCommandLine.BadInput, notASubmitLine.Exit);
        Assert.Contains("not a valid `submit` line", notASubmitLine.Error);
        var withRunId = await cluster.Cli("schedule", "add", "--name", "bad-run", "--cron", "0 3 * * *", "--", "vae", "--run-id", "x");
        Assert.Equal(PunkGridCommandLine.BadInput, withRunId.Exit);
        Assert.Equal(0, await cluster.CountAsync("select count(*) from schedules where name = @id", "bad-run"));
    }

    [Fact]
    public async Task A_short_period_schedule_starts_runs_on_its_own_never_overlapping_and_pauses_resumes_and_goes()
    {
        var add = await cluster.Cli(["schedule", "add", "--name", "every3", "--cron", "*/3 * * * * *", .. TinyRun]);
        Assert.True(add.Exit == 0, add.Error);
        Assert.Contains("schedule 'every3' added", add.Out);
        var duplicate = await cluster.Cli(["schedule", "add", "--name", "every3", "--cron", "0 3 * * *", .. TinyRun]);
        Assert.Equal(PunkGridCommandLine.BadInput, duplicate.Exit);
        Assert.Contains("schedule 'every3' exists", duplicate.Error);

        // Two runs, each started by the schedule alone, the second only after the first finished.
        await cluster.WaitUntilAsync(async () =>
            await cluster.CountAsync("select count(*) from runs r where r.run_id like @id || '-%' and not exists " +
                "(select 1 from jobs j where j.run_id = r.run_id and j.state in ('Queued', 'Running'))", "every3") >= 2,
            TimeSpan.FromMinutes(3), "two finished scheduled runs");
        var overlaps = await cluster.CountAsync(
            "with spans as (select r.run_id, r.created_at as started, (select max(e.at) from job_events e join jobs j on j.job_id = e.job_id where j.run_id = r.run_id) as ended " +
            "from runs r where r.run_id like @id || '-%') select count(*) from spans a join spans b on a.run_id < b.run_id " +
            "where a.started < b.ended and b.started < a.ended", "every3");
        Assert.Equal(0, overlaps);

        var listed = JsonDocument.Parse((await cluster.Cli("schedule", "list", "--json")).Out).RootElement.EnumerateArray()
            .Single(s => s.GetProperty("name").GetString() == "every3");
        Assert.StartsWith("every3-", listed.GetProperty("last_run_id").GetString());
        Assert.Equal("trait", listed.GetProperty("run").GetProperty("kind").GetString());
        Assert.Equal("*/3 * * * * *", listed.GetProperty("cron").GetString());

        Assert.Equal(0, (await cluster.Cli("schedule", "pause", "every3")).Exit);
        await Task.Delay(TimeSpan.FromSeconds(2)); // a tick in flight may still land
        var paused = await cluster.CountAsync("select count(*) from runs where run_id like @id || '-%'", "every3");
        await Task.Delay(TimeSpan.FromSeconds(8));
        Assert.Equal(paused, await cluster.CountAsync("select count(*) from runs where run_id like @id || '-%'", "every3"));
        Assert.Equal(PunkGridCommandLine.BadInput, (await cluster.Cli("schedule", "pause", "every3")).Exit); // already paused

        Assert.Equal(0, (await cluster.Cli("schedule", "resume", "every3")).Exit);
        await cluster.WaitUntilAsync(async () => await cluster.CountAsync("select count(*) from runs where run_id like @id || '-%'", "every3") > paused,
            TimeSpan.FromMinutes(2), "a run after resuming");

        Assert.Equal(0, (await cluster.Cli("schedule", "remove", "every3")).Exit);
        var gone = await cluster.Cli("schedule", "remove", "every3");
        Assert.Equal(PunkGridCommandLine.BadInput, gone.Exit);
        Assert.Contains("unknown schedule 'every3'", gone.Error);
        await cluster.WaitUntilAsync(async () => await cluster.CountAsync("select count(*) from jobs where run_id like @id || '-%' and state in ('Queued', 'Running')", "every3") == 0,
            TimeSpan.FromMinutes(2), "the last scheduled run to finish");
    }
}
