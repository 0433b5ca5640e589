using System.Text.RegularExpressions;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// Searches through the faults that break decisions in production: the silo deciding an ASHA promotion SIGKILLed between
/// the trial's result and the promotion's commit (the fault cluster holds every promotion 3 s uncommitted), and the
/// database stopped and started again mid-way through an ASHA, a random and a grid search. Each ends with every decision numbered once, every promotion taken once
/// and carried out once (one requeue of the trial's job per promotion), and the fault suite's invariants on the trials.
/// </summary>
[Collection(FaultCollection.Name)]
public sealed partial class SearchFaultTests(FaultFixture cluster)
{
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(4);

    [GeneratedRegex(@"Search (?<search>\S+) .*holding decisions (?<first>\d+)-(?<last>\d+) uncommitted")]
    private static partial Regex Holding();

    private async Task StartAsync(string id, string searcher = "asha", params string[] space)
    {
        string[] dimensions = space.Length > 0 ? space : ["quality=uniform(0,1)"];
        var started = await cluster.Cli(["search", "noop", "--profile", "quick", "--set", "duration_ms=2700", "--set", "metrics_per_second=5",
            "--set", "checkpoint_bytes=65536", .. dimensions.SelectMany(d => new[] { "--space", d }), "--searcher", searcher, "--min-epochs", "1",
            "--max-epochs", "9", "--eta", "3", "--max-trials", "9", "--max-concurrent", "4", "--seed", "5", "--id", id]);
        Assert.True(started.Exit == 0, started.Error);
    }

    /// <summary>Decisions 1..n once each, each (trial, rung) result and promotion once, each promotion carried out once, the trials' invariants.</summary>
    private async Task AssertEachDecisionOnceAsync(string id, bool promotes = true)
    {
        await cluster.WaitUntilAsync(async () => await cluster.CountAsync("select count(*) from searches where search_id = @id and state = 'Finished'", id) == 1,
            Bound, $"search {id} to finish");
        Assert.Equal(0, await cluster.CountAsync("""
            select count(*) from (select sequence, row_number() over (order by sequence) as n from search_decisions where search_id = @id) d where sequence <> n
            """, id));
        Assert.Equal(0, await cluster.CountAsync("""
            select count(*) from (select trial, rung from search_decisions where search_id = @id and action in ('promote', 'result')
                                  group by action, trial, rung having count(*) > 1) twice
            """, id));
        // Every promotion requeued its trial's job exactly once: as many Succeeded → Queued moves as promotions, trial by trial.
        Assert.Equal(0, await cluster.CountAsync("""
            select count(*) from search_trials t
            where t.search_id = @id
              and (select count(*) from search_decisions d where d.search_id = t.search_id and d.trial = t.trial and d.action = 'promote')
               <> (select count(*) from job_events e where e.job_id = t.job_id and e.from_state = 'Succeeded' and e.to_state = 'Queued')
            """, id));
        Assert.Equal(9, await cluster.CountAsync("select count(*) from search_trials where search_id = @id", id));
        var promotions = await cluster.CountAsync("select count(*) from search_decisions where search_id = @id and action = 'promote'", id);
        Assert.True(promotes ? promotions >= 3 : promotions == 0, $"{promotions} promotion(s)");
        var report = await ClusterInvariants.CheckAsync(cluster.Database, id);
        Assert.True(report.Holds, $"{report}\n{cluster.Logs()}");
        Assert.Equal(0, report.Failures);
    }

    [Fact]
    public async Task Killing_the_silo_between_a_trials_result_and_its_promotion_loses_and_repeats_nothing()
    {
        await cluster.EnsureSilosAsync();
        const string id = "fault-search-kill";
        await StartAsync(id);
        SiloProcess? holder = null;
        Match? held = null;
        await cluster.WaitUntilAsync(() =>
        {
            foreach (var silo in cluster.Silos.Where(s => !s.HasExited))
            {
                using var log = new FileStream(silo.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var reader = new StreamReader(log);
                if (Holding().Matches(reader.ReadToEnd()).FirstOrDefault(m => m.Groups["search"].Value == id) is { } match)
                {
                    (holder, held) = (silo, match);
                    return Task.FromResult(true);
                }
            }
            return Task.FromResult(false);
        }, Bound, "a silo to hold a promotion of the search uncommitted");
        var beforeKill = await cluster.DatabaseNowAsync();
        holder!.Kill();
        await cluster.EnsureSilosAsync();

        await AssertEachDecisionOnceAsync(id);
        // What the dead silo held was never committed: those decisions were taken again, after the kill, by a live silo.
        var first = int.Parse(held!.Groups["first"].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(1, await cluster.CountAsync($"select count(*) from search_decisions where search_id = @id and sequence = {first} and decided_at >= '{beforeKill:O}'::timestamptz", id));
    }

    /// <summary>An ASHA, a random and a grid search side by side when PostgreSQL stops and starts again.</summary>
    [Fact]
    public async Task A_database_restart_in_the_middle_of_asha_random_and_grid_searches_loses_and_repeats_no_decision()
    {
        await cluster.EnsureSilosAsync();
        const string id = "fault-search-restart";
        await StartAsync(id);
        await StartAsync($"{id}-random", "random");
        await StartAsync($"{id}-grid", "grid", "quality=choice(0.2,0.5,0.8)", "seed=int(1,3)");
        await cluster.WaitUntilAsync(async () => await cluster.CountAsync("select count(*) from search_decisions where search_id = @id and action = 'result'", id) >= 3,
            Bound, "the search's first results");
        await cluster.Server.StopAsync();
        await Task.Delay(TimeSpan.FromSeconds(4));
        await cluster.Server.StartAsync();
        await AssertEachDecisionOnceAsync(id);
        await AssertEachDecisionOnceAsync($"{id}-random", promotes: false);
        await AssertEachDecisionOnceAsync($"{id}-grid", promotes: false);
        Assert.Equal(9, await cluster.CountAsync("select count(distinct parameters) from search_trials where search_id = @id", $"{id}-grid")); // every combination once
    }
}
