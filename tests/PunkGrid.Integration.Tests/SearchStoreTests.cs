using System.Globalization;
using Microsoft.Extensions.Options;
using Npgsql;
using PunkGrid.Contracts;
using PunkGrid.Server;
using PunkGrid.Server.Grains;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Search;
using PunkGrid.Server.Worker;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// Searches on a real PostgreSQL, driven by the same decision pass the silos run and by a worker played by the test (it
/// leases the trials' jobs, records their metric per epoch and reports success): ASHA's rungs and promotions, each
/// decision taken once however often or concurrently the pass runs, a pass that dies before committing losing nothing,
/// grid and random searches, validation, cancellation, and a search's run announced once, when the search ends.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class SearchStoreTests(PostgresServer server) : IAsyncLifetime
{
    private static readonly WorkerRegistration Worker = new("w1", "silo-1", "cpu", 64, 1 << 20);

    private MigratedDatabase database = null!;
    private SearchPlanner planner = null!;
    private SearchStore store = null!;

    /// <summary>Epochs each job has trained so far (the test's worker resumes a promoted trial where its checkpoint would be).</summary>
    private readonly Dictionary<string, int> trained = [];

    public async Task InitializeAsync()
    {
        database = await MigratedDatabase.CreateAsync(server, "searches");
        var traits = new TraitCatalog(Options.Create(new WorkerOptions()));
        planner = new SearchPlanner(traits, new RunPlanner(traits, Options.Create(new JobQueueOptions())));
        store = new SearchStore(database.DataSource, new SearchDecider(planner));
    }

    public async Task DisposeAsync() => await database.DisposeAsync();

    private static SearchSpec Noop(string searcher, IReadOnlyList<string> space, int maxTrials, int maxConcurrent, int min = 1, int max = 9, int eta = 3, int seed = 7) =>
        new(JobKinds.Noop, [], "quick", new Dictionary<string, string> { ["duration_ms"] = "0" }, space, searcher, null, null, min, max, eta, maxTrials, maxConcurrent, seed, 0);

    /// <summary>Leases every Queued job and trains it to its stop: noop_score = quality · epoch / epochs at each new epoch, then success. Returns the epochs trained.</summary>
    private async Task<int> TrainQueuedAsync()
    {
        var epochsTrained = 0;
        foreach (var lease in await database.Queue.LeaseAsync(Worker, 1000))
        {
            var p = lease.Spec.Parameters;
            var epochs = int.Parse(p["epochs"], CultureInfo.InvariantCulture);
            var stop = p.TryGetValue("stop_after_epoch", out var s) ? int.Parse(s, CultureInfo.InvariantCulture) : epochs;
            var quality = double.Parse(p["quality"], CultureInfo.InvariantCulture);
            var from = trained.GetValueOrDefault(lease.JobId);
            var samples = Enumerable.Range(from + 1, stop - from).Select(e => new MetricSample("noop_score", e, e, quality * e / epochs)).ToList();
            await database.Metrics.WriteAsync(lease.JobId, lease.Attempt, samples);
            Assert.Equal(JobQueue.ReportOutcome.Applied, await database.Queue.SucceedAsync(lease.JobId, lease.Attempt, "{}", new Dictionary<string, double>(), finalEpochs: stop));
            trained[lease.JobId] = stop;
            epochsTrained += stop - from;
        }
        return epochsTrained;
    }

    /// <summary>Trains and decides until the search ends; the epochs trained.</summary>
    private async Task<int> RunToEndAsync(string searchId)
    {
        var epochs = 0;
        for (var round = 0; round < 200; round++)
        {
            epochs += await TrainQueuedAsync();
            await store.DecideDueAsync(null);
            if ((await store.GetAsync(searchId))!.State != "Running")
            {
                return epochs;
            }
        }
        Assert.Fail($"search {searchId} did not end in 200 rounds");
        return epochs;
    }

    private async Task<long> ScalarAsync(string sql, string id)
    {
        await using var command = database.DataSource.CreateCommand(sql);
        command.Parameters.AddWithValue("id", id);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    /// <summary>Every target's decisions are numbered 1..n with no gap and no repeat, and no (trial, rung) is promoted twice.</summary>
    private static void AssertDecisionsOnce(IReadOnlyList<SearchDecisionView> decisions)
    {
        foreach (var target in decisions.GroupBy(d => d.Target))
        {
            Assert.Equal(Enumerable.Range(1, target.Count()), target.Select(d => d.Sequence));
            var promotions = target.Where(d => d.Action == "promote").Select(d => (d.Trial, d.Rung)).ToList();
            Assert.Equal(promotions.Count, promotions.Distinct().Count());
            var results = target.Where(d => d.Action == "result").Select(d => (d.Trial, d.Rung)).ToList();
            Assert.Equal(results.Count, results.Distinct().Count());
        }
    }

    [Fact]
    public async Task Asha_promotes_the_top_third_of_each_rung_from_its_checkpoint_and_spends_a_third_of_randoms_epochs()
    {
        var plan = planner.Plan("asha-1", Noop(Searchers.Asha, ["quality=uniform(0,1)"], maxTrials: 9, maxConcurrent: 3));
        Assert.Equal([1, 3, 9], plan.Settings.RungEpochs);
        Assert.Equal(SearchStore.CreateOutcome.Created, await store.CreateAsync(plan));
        Assert.Equal(SearchStore.CreateOutcome.SearchExists, await store.CreateAsync(plan));
        // Created with its first trials: three jobs, each stopping at the first rung.
        var first = await database.Jobs.GetJobsAsync("asha-1");
        Assert.Equal(["asha-1.t001.noop", "asha-1.t002.noop", "asha-1.t003.noop"], first.Select(j => j.JobId));

        var ashaEpochs = await RunToEndAsync("asha-1");
        var trials = await store.GetTrialsAsync("asha-1", plan.Settings.RungEpochs);
        var decisions = await store.GetDecisionsAsync("asha-1");
        AssertDecisionsOnce(decisions);
        Assert.Equal(9, trials.Count);
        Assert.Equal(9, trials.Count(t => t.Results.ContainsKey(0)));
        Assert.InRange(trials.Count(t => t.Results.ContainsKey(1)), 3, 9);
        Assert.Contains(trials, t => t.Status == "completed");
        Assert.All(trials, t => Assert.Equal(JobState.Succeeded, t.JobState));
        Assert.All(trials.Where(t => t.Status != "completed"), t => Assert.Equal("stopped", t.Status));
        // Every promotion was due: the trial was in the top third of its rung's results recorded before it.
        foreach (var promote in decisions.Where(d => d.Action == "promote"))
        {
            var rung = promote.Rung!.Value - 1;
            var before = decisions.Where(d => d.Action == "result" && d.Rung == rung && d.Sequence < promote.Sequence).ToList();
            var rank = before.OrderByDescending(d => d.Value).ThenBy(d => d.Trial).ToList().FindIndex(d => d.Trial == promote.Trial);
            Assert.InRange(rank, 0, (before.Count / 3) - 1);
        }
        // A promoted trial trained on from its checkpoint: each epoch recorded once, by one attempt per rung.
        var promoted = trials.First(t => t.Status == "completed");
        await using (var epochs = database.DataSource.CreateCommand("select epoch, attempt from metrics where job_id = @id and name = 'noop_score' order by epoch"))
        {
            epochs.Parameters.AddWithValue("id", promoted.JobId);
            var rows = new List<(int Epoch, int Attempt)>();
            await using var reader = await epochs.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                rows.Add((reader.GetInt32(0), reader.GetInt32(1)));
            }
            Assert.Equal(Enumerable.Range(1, 9), rows.Select(r => r.Epoch));
            Assert.Equal([1, 2, 2, 3, 3, 3, 3, 3, 3], rows.Select(r => r.Attempt));
        }
        Assert.Equal(2, await ScalarAsync("select count(*) from job_events where job_id = @id and from_state = 'Succeeded' and to_state = 'Queued'", promoted.JobId));
        var finish = decisions.Single(d => d.Action == "finish");
        Assert.Equal(decisions.Max(d => d.Sequence), finish.Sequence);
        Assert.Equal(promoted.Trial, finish.Trial);
        Assert.Equal(trials.Where(t => t.Results.ContainsKey(2)).Max(t => t.Results[2]), finish.Value);

        // The same nine configurations trained to 9 epochs each (random search with the same seed): ASHA spent at most a third.
        var random = planner.Plan("random-1", Noop(Searchers.Random, ["quality=uniform(0,1)"], maxTrials: 9, maxConcurrent: 3));
        Assert.Equal(SearchStore.CreateOutcome.Created, await store.CreateAsync(random));
        var randomEpochs = await RunToEndAsync("random-1");
        Assert.Equal(81, randomEpochs);
        Assert.InRange(ashaEpochs, 9, 81 / 3);
        var randomTrials = await store.GetTrialsAsync("random-1", random.Settings.RungEpochs);
        Assert.Equal(trials.Select(t => t.Parameters["quality"]), randomTrials.Select(t => t.Parameters["quality"]));
        Assert.All(randomTrials, t => Assert.Equal("completed", t.Status));
    }

    [Fact]
    public async Task A_result_replayed_or_a_pass_run_twice_or_at_once_takes_no_decision_twice()
    {
        var plan = planner.Plan("replay-1", Noop(Searchers.Asha, ["quality=uniform(0,1)"], maxTrials: 6, maxConcurrent: 6, max: 4, eta: 2));
        await store.CreateAsync(plan);
        await TrainQueuedAsync();
        var jobs = await database.Jobs.GetJobsAsync("replay-1");
        // The same success reported again (a retry after a lost answer) changes nothing.
        foreach (var job in jobs)
        {
            Assert.Equal(JobQueue.ReportOutcome.AlreadyApplied, await database.Queue.SucceedAsync(job.JobId, job.Attempt, "{}", new Dictionary<string, double>()));
        }

        // Two silos' passes at once: the one holding the target decides; the other skips it.
        await using var secondSilo = NpgsqlDataSource.Create(database.ConnectionString);
        var other = new SearchStore(secondSilo, new SearchDecider(planner));
        var holding = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        var first = store.DecideDueAsync(async (_, _) =>
        {
            holding.SetResult();
            await release.Task;
        });
        await holding.Task;
        var second = await other.DecideDueAsync(null);
        Assert.Empty(second);
        release.SetResult();
        var taken = Assert.Single(await first);
        Assert.Equal(6, taken.Decisions.Count(d => d.Action == "result"));
        Assert.Equal(3, taken.Decisions.Count(d => d.Action == "promote")); // 6 results at rung 0, η = 2
        Assert.Empty(await other.DecideDueAsync(null));
        Assert.Empty(await store.DecideDueAsync(null));

        // A pass that dies before committing (its silo killed, its connection lost) leaves nothing: the next takes the same decisions.
        await TrainQueuedAsync();
        var lost = await Assert.ThrowsAsync<IOException>(() => store.DecideDueAsync((_, _) => throw new IOException("connection lost")));
        Assert.Equal("connection lost", lost.Message);
        var decisionsBefore = await store.GetDecisionsAsync("replay-1");
        var again = Assert.Single(await other.DecideDueAsync(null));
        Assert.Equal(decisionsBefore.Count + 1, again.Decisions[0].Sequence);
        AssertDecisionsOnce(await store.GetDecisionsAsync("replay-1"));
    }

    [Fact]
    public async Task A_grid_search_tries_every_configuration_in_order_and_random_draws_the_same_trials_from_the_same_seed()
    {
        var grid = planner.Plan("grid-1", Noop(Searchers.Grid, ["quality=choice(0.2,0.9)", "seed=int(1,2)"], maxTrials: 0, maxConcurrent: 2));
        Assert.Equal(4, grid.Settings.MaxTrials);
        Assert.Equal([9], grid.Settings.RungEpochs);
        await store.CreateAsync(grid);
        await RunToEndAsync("grid-1");
        var trials = await store.GetTrialsAsync("grid-1", grid.Settings.RungEpochs);
        Assert.Equal(["0.2/1", "0.2/2", "0.9/1", "0.9/2"], trials.Select(t => $"{t.Parameters["quality"]}/{t.Parameters["seed"]}"));
        Assert.Equal(0, await ScalarAsync("select count(*) from jobs where run_id = @id and parameters ? 'stop_after_epoch'", "grid-1"));
        var finish = (await store.GetDecisionsAsync("grid-1")).Single(d => d.Action == "finish");
        Assert.Equal(3, finish.Trial); // the first trial of quality 0.9

        var space = new[] { "quality=uniform(0,1)", "seed=int(1,1000)" };
        await store.CreateAsync(planner.Plan("rand-a", Noop(Searchers.Random, space, maxTrials: 4, maxConcurrent: 4, seed: 11)));
        await store.CreateAsync(planner.Plan("rand-b", Noop(Searchers.Random, space, maxTrials: 4, maxConcurrent: 4, seed: 11)));
        await store.CreateAsync(planner.Plan("rand-c", Noop(Searchers.Random, space, maxTrials: 4, maxConcurrent: 4, seed: 12)));
        async Task<List<string>> Drawn(string id) =>
            (await store.GetTrialsAsync(id, [9])).Select(t => $"{t.Parameters["quality"]}/{t.Parameters["seed"]}").ToList();
        Assert.Equal(await Drawn("rand-a"), await Drawn("rand-b"));
        Assert.NotEqual(await Drawn("rand-a"), await Drawn("rand-c"));
        Assert.Equal(4, (await Drawn("rand-a")).Distinct().Count());
    }

    [Fact]
    public async Task A_search_that_cannot_run_is_refused_naming_the_value_and_nothing_is_stored()
    {
        void Refused(string expected, SearchSpec spec, string id = "bad")
        {
            var error = Assert.Throws<ArgumentException>(() => planner.Plan(id, spec));
            Assert.Contains(expected, error.Message);
        }
        var good = Noop(Searchers.Asha, ["quality=uniform(0,1)"], 9, 3);
        Refused("search id 'no way' is not allowed", good, "no way");
        Refused("searcher 'bayes' is not allowed: grid, random, asha", good with { Searcher = "bayes" });
        Refused("unknown job kind 'cnn'", good with { Kind = "cnn" });
        Refused("search dimension 'epochs' is not allowed", good with { Space = ["epochs=int(1,5)"] });
        Refused("parameter 'stop_after_epoch' is not allowed in a search", good with { Parameters = new Dictionary<string, string> { ["stop_after_epoch"] = "2" } });
        Refused("'quality' is both a fixed parameter and a search dimension", good with { Parameters = new Dictionary<string, string> { ["quality"] = "1" } });
        Refused("metric 'test_f1' is measured on the held-out test split", good with { Metric = "test_f1" });
        Refused("metric 'widgets': say whether higher or lower is better", good with { Metric = "widgets" });
        Refused("mode 'up' is not allowed: max or min", good with { Mode = "up" });
        Refused("reduction factor 1 is not allowed", good with { ReductionFactor = 1 });
        Refused("max_epochs 3 is not allowed: at least min_epochs (5)", good with { MinEpochs = 5, MaxEpochs = 3 });
        Refused("unknown noop parameter(s): lr", good with { Space = ["lr=loguniform(1e-4,1e-1)"] });
        Refused("max_concurrent 0 is not allowed: 1 to 1000", good with { MaxConcurrent = 0 });
        Refused("max_trials 0 is not allowed", good with { MaxTrials = 0 });
        Refused("a grid search cannot enumerate 'quality'", good with { Searcher = Searchers.Grid });
        Refused("noop parameter quality='2000' is not allowed", good with { Space = ["quality=uniform(0,2000)"] });
        Refused("targets do not apply to a noop search", good with { Targets = ["Male"] });
        Refused("search dimension 'quality=uniform(1,0)': takes two numbers lo < hi", good with { Space = ["quality=uniform(1,0)"] });
        Assert.Equal(0, await ScalarAsync("select count(*) from searches where search_id <> @id", ""));

        // Every kind's trainer stops at a rung and trains on, so every kind takes ASHA; the VAE's Punk-FID is lower-better.
        var vae = planner.Plan("vae-1", good with { Kind = JobKinds.Vae, Space = ["lr=loguniform(1e-4,1e-2)"], Parameters = new Dictionary<string, string>(), MaxEpochs = 30 });
        Assert.Equal(("punk_fid", false), (vae.Metric, vae.Settings.HigherIsBetter));
        Assert.Equal([1, 3, 9, 27, 30], vae.Settings.RungEpochs);
    }

    [Fact]
    public async Task A_trait_search_is_one_search_per_trait_measured_on_a_validation_split()
    {
        var spec = new SearchSpec(JobKinds.Trait, ["earring", "Hoodie"], "quick", new Dictionary<string, string>(), ["lr=loguniform(1e-4,1e-2)"],
            Searchers.Asha, null, null, 1, 4, 2, 4, 2, 1, 5);
        var plan = planner.Plan("traits-1", spec);
        Assert.Equal(["Earring", "Hoodie"], plan.Targets);
        Assert.Equal("validation_f1", plan.Metric);
        Assert.True(plan.Settings.HigherIsBetter);
        Assert.Equal("0.15", plan.Parameters["validation_fraction"]);
        Assert.Contains(plan.Notes, n => n.StartsWith("validation_fraction=0.15 added", StringComparison.Ordinal));
        await store.CreateAsync(plan);
        var jobs = await database.Jobs.GetJobsAsync("traits-1");
        Assert.Equal(["traits-1.t001.earring", "traits-1.t001.hoodie", "traits-1.t002.earring", "traits-1.t002.hoodie"], jobs.Select(j => j.JobId).Order());
        Assert.Equal(4, await ScalarAsync("select count(*) from jobs where run_id = @id and priority = 5 and parameters->>'stop_after_epoch' = '1'", "traits-1"));
        Assert.Contains("unknown trait 'Wings'", Assert.ThrowsAny<Exception>(() => planner.Plan("traits-2", spec with { Targets = ["Wings"] })).Message);
    }

    [Fact]
    public async Task Cancelling_a_search_cancels_its_trials_and_ends_its_run_once()
    {
        var plan = planner.Plan("cancel-1", Noop(Searchers.Random, ["quality=uniform(0,1)"], maxTrials: 10, maxConcurrent: 3));
        await store.CreateAsync(plan);
        await TrainQueuedAsync(); // three trials succeed: the run has no open job, but the search is deciding
        Assert.Equal(0, await ScalarAsync("select count(*) from runs where run_id = @id and ended_announced_at is not null", "cancel-1"));
        await store.DecideDueAsync(null); // three more trials
        Assert.Equal((true, 3), await store.CancelAsync("cancel-1"));
        Assert.Equal((false, 0), await store.CancelAsync("cancel-1"));
        Assert.Null(await store.CancelAsync("no-such-search"));
        Assert.Equal("Cancelled", (await store.GetAsync("cancel-1"))!.State);
        Assert.Equal(3, await ScalarAsync("select count(*) from jobs where run_id = @id and state = 'Cancelled'", "cancel-1"));
        Assert.Equal("cancel", (await store.GetDecisionsAsync("cancel-1"))[^1].Action);
        Assert.Empty(await store.DecideDueAsync(null));
        Assert.Equal(1, await ScalarAsync("select count(*) from runs where run_id = @id and ended_announced_at is not null", "cancel-1"));
    }

    [Fact]
    public async Task A_trial_its_kind_refuses_fails_its_search_target_and_no_other()
    {
        await store.CreateAsync(planner.Plan("broken-1", Noop(Searchers.Random, ["quality=uniform(0,1)"], maxTrials: 4, maxConcurrent: 1)));
        await store.CreateAsync(planner.Plan("healthy-1", Noop(Searchers.Random, ["quality=uniform(0,1)"], maxTrials: 2, maxConcurrent: 1)));
        // As if the stored settings no longer suited the trainer (an upgrade that dropped a parameter, say).
        await using (var tamper = database.DataSource.CreateCommand("update searches set parameters = parameters || '{\"bogus\": \"1\"}' where search_id = 'broken-1'"))
        {
            await tamper.ExecuteNonQueryAsync();
        }
        await RunToEndAsync("healthy-1");
        Assert.Equal("Finished", (await store.GetAsync("broken-1"))!.State);
        var (_, state, _, detail) = Assert.Single(await store.GetTargetsAsync("broken-1"));
        Assert.Equal("Failed", state);
        Assert.Contains("unknown noop parameter(s): bogus", detail);
        var decisions = await store.GetDecisionsAsync("broken-1");
        AssertDecisionsOnce(decisions);
        Assert.Equal("fail", decisions[^1].Action);
        Assert.Equal(2, await ScalarAsync("select count(*) from search_decisions where search_id = @id and action = 'trial'", "healthy-1"));
    }
}
