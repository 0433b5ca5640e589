using System.Text.Json;
using Microsoft.Playwright;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// Hyperparameter searches on the two-silo cluster, through the CLI and the API as operators use them: a real trait ASHA
/// search whose promoted trials train on from their checkpoints, its status, trials, decisions and best, a run trained
/// from its best settings, predictions from its best models; a noop search started, read and cancelled over HTTP.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class SearchClusterTests(ClusterFixture cluster)
{
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(6);

    private async Task<string> OkAsync(params string[] args)
    {
        var result = await cluster.Cli(args);
        Assert.True(result.Exit == 0, $"punkgrid {string.Join(' ', args)}: exit {result.Exit}\n{result.Error}\n{result.Out}");
        return result.Out;
    }

    [Fact]
    public async Task A_trait_asha_search_trains_promoted_trials_on_from_their_checkpoints_and_its_best_settings_make_a_run()
    {
        var started = await OkAsync("search", "traits", "--traits", "Earring", "--profile", "quick", "--set", "train_samples=200",
            "--space", "lr=loguniform(1e-4,3e-2)", "--searcher", "asha", "--min-epochs", "1", "--max-epochs", "4", "--eta", "2",
            "--max-trials", "4", "--max-concurrent", "2", "--seed", "3", "--id", "search-earring");
        Assert.Contains("validation_fraction=0.15 added", started);
        Assert.Contains("search search-earring: asha over Earring", started);
        Assert.Contains("already exists; nothing changed", await OkAsync("search", "traits", "--traits", "Earring", "--profile", "quick",
            "--space", "lr=loguniform(1e-4,3e-2)", "--id", "search-earring"));

        await cluster.WaitUntilAsync(async () => await cluster.ScalarAsync("select state from searches where search_id = @id", "search-earring") != "Running",
            Bound, "the Earring search to end");
        var status = JsonDocument.Parse(await OkAsync("search", "status", "search-earring", "--json")).RootElement;
        Assert.Equal("Finished", status.GetProperty("state").GetString());
        Assert.Equal([1, 2, 4], status.GetProperty("rung_epochs").EnumerateArray().Select(e => e.GetInt32()));
        var target = status.GetProperty("targets")[0];
        Assert.Equal(("Earring", 4), (target.GetProperty("target").GetString(), target.GetProperty("trials").GetInt32()));
        var bestJob = target.GetProperty("best_job_id").GetString()!;
        Assert.Equal(4, target.GetProperty("best_epochs").GetInt32());
        var bestLr = target.GetProperty("best_parameters").GetProperty("lr").GetString()!;
        // 4 trials × 1 epoch, the best 2 on to 2, the best of those on to 4: 4 + 2 + 2 epochs.
        Assert.Equal(8, target.GetProperty("epochs_trained").GetInt32());

        // Every trial is an ordinary job that kept every promise; the promoted ones trained each epoch once, from their checkpoint.
        var report = await ClusterInvariants.CheckAsync(cluster.Database, "search-earring");
        Assert.True(report.Holds, report.ToString());
        Assert.Equal(4, await cluster.CountAsync("""
            select count(*) from (select epoch from metrics where job_id = @id and name = 'epoch_seconds' group by epoch having count(*) = 1) e
            """, bestJob));
        Assert.Equal(2, await cluster.CountAsync("select count(*) from job_events where job_id = @id and from_state = 'Succeeded' and to_state = 'Queued'", bestJob));
        Assert.Equal(1, await cluster.CountAsync("select count(*) from job_logs where job_id = @id and attempt = 3 and message like '%checkpoint of epoch 2%'", bestJob));

        var trials = await OkAsync("search", "trials", "search-earring");
        Assert.Contains("completed", trials);
        Assert.Contains("stopped", trials);
        var decisions = JsonDocument.Parse(await OkAsync("search", "decisions", "search-earring", "--json")).RootElement.EnumerateArray().ToList();
        Assert.Equal(Enumerable.Range(1, decisions.Count), decisions.Select(d => d.GetProperty("sequence").GetInt32()));
        Assert.Equal(3, decisions.Count(d => d.GetProperty("action").GetString() == "promote")); // two from rung 0, one from rung 1
        Assert.Equal("finish", decisions[^1].GetProperty("action").GetString());
        var best = await OkAsync("search", "best", "search-earring");
        Assert.Contains(bestJob, best);
        Assert.Contains("punkgrid submit traits --from-search search-earring", best);
        Assert.Contains("search-earring", await OkAsync("search", "list"));

        // The search's best models serve predictions; its best settings train a run of the whole schedule.
        var predicted = JsonDocument.Parse(await OkAsync("predict", "traits", "--search", "search-earring", "--punk", "7", "--json")).RootElement;
        Assert.Equal("Earring", Assert.Single(predicted.EnumerateArray()).GetProperty("trait").GetString());
        await OkAsync("submit", "traits", "--from-search", "search-earring", "--run-id", "from-search-earring");
        var parameters = JsonDocument.Parse(await cluster.ScalarAsync("select parameters::text from jobs where job_id = @id", "from-search-earring.earring")).RootElement;
        Assert.Equal(bestLr, parameters.GetProperty("lr").GetString());
        Assert.Equal("4", parameters.GetProperty("epochs").GetString());
        Assert.Equal("200", parameters.GetProperty("train_samples").GetString());
        Assert.False(parameters.TryGetProperty("stop_after_epoch", out _));
        Assert.Equal("quick", await cluster.ScalarAsync("select profile from jobs where job_id = @id", "from-search-earring.earring"));
        var refused = await cluster.Cli("submit", "traits", "--from-search", "search-earring", "--traits", "Hoodie");
        Assert.Equal(2, refused.Exit);
        Assert.Contains("search search-earring did not search the trait 'Hoodie'; it searched: Earring", refused.Error);
        await cluster.Cli("cancel", "from-search-earring");

        // A schedule's run line takes --from-search too, validated when the schedule is added, not when it fires.
        await OkAsync("schedule", "add", "--name", "from-search", "--cron", "0 3 * * *", "--", "traits", "--from-search", "search-earring");
        await OkAsync("schedule", "remove", "from-search");
        var unknownSearch = await cluster.Cli("schedule", "add", "--name", "from-nothing", "--cron", "0 3 * * *", "--", "traits", "--from-search", "no-such-search");
        Assert.Equal((2, true), (unknownSearch.Exit, unknownSearch.Error.Contains("unknown search 'no-such-search'", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_search_is_started_read_and_cancelled_over_the_api_and_refusals_name_the_field()
    {
        var body = """
            {"search_id": "api-search", "kind": "noop", "profile": "quick", "parameters": {"duration_ms": 60000},
             "space": ["quality=uniform(0,1)"], "searcher": "random", "max_epochs": 3, "max_trials": 6, "max_concurrent": 1}
            """;
        Assert.Equal(401, (await cluster.ApiAsync(HttpMethod.Post, "/api/searches", body, token: null)).Status);
        var created = await cluster.ApiAsync(HttpMethod.Post, "/api/searches", body);
        Assert.Equal(201, created.Status);
        Assert.True(created.Body.GetProperty("created").GetBoolean());
        Assert.Equal(200, (await cluster.ApiAsync(HttpMethod.Post, "/api/searches", body)).Status);

        var view = await cluster.ApiAsync(HttpMethod.Get, "/api/searches/api-search");
        Assert.Equal(200, view.Status);
        Assert.Equal("noop_score", view.Body.GetProperty("search").GetProperty("metric").GetString());
        Assert.Equal("api-search.t001.noop", Assert.Single(view.Body.GetProperty("trials").EnumerateArray()).GetProperty("job_id").GetString());
        Assert.Contains(view.Body.GetProperty("decisions").EnumerateArray(), d => d.GetProperty("action").GetString() == "trial");
        Assert.Contains((await cluster.ApiAsync(HttpMethod.Get, "/api/searches")).Body.EnumerateArray(), s => s.GetProperty("search_id").GetString() == "api-search");
        Assert.Equal(404, (await cluster.ApiAsync(HttpMethod.Get, "/api/searches/no-such-search")).Status);

        var cancelled = await cluster.ApiAsync(HttpMethod.Post, "/api/searches/api-search/cancel");
        Assert.Equal(200, cancelled.Status);
        Assert.Equal("Cancelled", await cluster.ScalarAsync("select state from searches where search_id = @id", "api-search"));
        Assert.Equal("Cancelled", await cluster.StateOfAsync("api-search.t001.noop"));
        Assert.Equal(409, (await cluster.ApiAsync(HttpMethod.Post, "/api/searches/api-search/cancel")).Status);

        foreach (var (bad, message) in new[]
        {
            ("""{"kind": "noop"}""", "space is required"),
            ("""{"kind": "noop", "space": ["quality=uniform(0,1)"], "max_trials": "many"}""", "max_trials must be a whole number from 1 to 10000"),
            ("""{"kind": "noop", "space": ["quality=uniform(0,1)"], "colour": 1}""", "unknown field 'colour'"),
            ("""{"kind": "noop", "space": ["quality=normal(0,1)"]}""", "search dimension 'quality=normal(0,1)' is not allowed"),
            ("""{"kind": "vae", "space": ["lr=loguniform(1e-4,1e-2)"], "metric": "test_mse"}""", "metric 'test_mse' is measured on the held-out test split"),
        })
        {
            var refused = await cluster.ApiAsync(HttpMethod.Post, "/api/searches", bad);
            Assert.Equal(400, refused.Status);
            Assert.Contains(message, refused.Body.GetProperty("detail").GetString());
        }
    }

    [Fact]
    public async Task The_search_page_in_headless_chromium_draws_each_trials_curve_its_rungs_and_the_best_so_far()
    {
        await OkAsync("search", "noop", "--profile", "quick", "--set", "duration_ms=900", "--set", "metrics_per_second=0", "--space", "quality=uniform(0,1)",
            "--max-epochs", "9", "--min-epochs", "1", "--eta", "3", "--max-trials", "9", "--max-concurrent", "2", "--id", "page-search");
        await using var chromium = await HeadlessChromium.LaunchAsync();
        var list = await chromium.OpenAsync(new Uri(cluster.Silos[0].DashboardUrl, "#/searches"));
        await list.WaitForSelectorAsync("[data-search='page-search'][data-state='Finished']", new PageWaitForSelectorOptions { Timeout = (float)Bound.TotalMilliseconds });

        var page = await chromium.OpenAsync(new Uri(cluster.Silos[1].DashboardUrl, "#/search/page-search"));
        await page.WaitForSelectorAsync("#search-spec:has-text('rungs at 1, 3, 9 epochs')");
        await page.WaitForSelectorAsync("canvas[data-chart='curves']");
        // One line per trial; the ones ASHA stopped end at their rung, the winner's reaches the last epoch.
        var lastEpochs = await page.EvaluateAsync<int[]>("Chart.getChart(document.getElementById('search-curves')).data.datasets.map(d => d.data[d.data.length - 1].x)");
        Assert.Equal(9, lastEpochs.Length);
        Assert.Contains(9, lastEpochs);
        Assert.Contains(1, lastEpochs);
        var steps = await page.EvaluateAsync<int>("Chart.getChart(document.getElementById('search-best')).data.datasets[0].data.length");
        Assert.InRange(steps, 9, 20); // one point per result recorded
        await page.WaitForSelectorAsync("[data-rung='2']");
        await page.WaitForSelectorAsync("[data-trial][data-status='stopped']");
        await page.WaitForSelectorAsync("[data-trial][data-status='completed']");
        await page.WaitForSelectorAsync("[data-best-trial]");
        await page.WaitForSelectorAsync("[data-decision]:has-text('finished after 9 trial(s)')");
        Assert.Null(await page.QuerySelectorAsync("[data-command='/searches/page-search/cancel']")); // ended: nothing to cancel
        Assert.Null(await page.QuerySelectorAsync("#load-error"));

        // The CLI follows a search to its end (one line per change when redirected) and refuses what it cannot do.
        Assert.Contains("search page-search ended: Finished", await OkAsync("search", "status", "page-search", "--watch"));
        var unknown = await cluster.Cli("search", "status", "no-such-search");
        Assert.Equal((2, true), (unknown.Exit, unknown.Error.Contains("unknown search 'no-such-search'", StringComparison.Ordinal)));
        var trait = await cluster.Cli("search", "traits", "--traits", "Wings", "--space", "lr=loguniform(1e-4,1e-2)");
        Assert.Equal((2, true), (trait.Exit, trait.Error.Contains("unknown trait 'Wings'", StringComparison.Ordinal)));
        var space = await cluster.Cli("search", "noop", "--space", "quality=gaussian(0,1)");
        Assert.Equal((2, true), (space.Exit, space.Error.Contains("search dimension 'quality=gaussian(0,1)' is not allowed", StringComparison.Ordinal)));
    }
}
