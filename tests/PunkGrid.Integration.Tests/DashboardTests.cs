using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// The operator surface of a real two-silo cluster: the dashboard page in headless Chromium, the JSON API and its token
/// checks, the Prometheus endpoint and the OTLP export.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class DashboardTests(ClusterFixture cluster)
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromMinutes(4);

    private const string SmallSweep = """
        {"run_id": "dash-1", "kind": "trait", "targets": ["Male", "Hoodie"], "profile": "quick", "parameters": {"train_samples": "200", "epochs": "2"}}
        """;

    [Fact]
    public async Task The_dashboard_in_headless_chromium_shows_a_sweep_succeeding_and_a_jobs_loss_curve()
    {
        await using var chromium = await HeadlessChromium.LaunchAsync();
        var (status, body) = await cluster.ApiAsync(HttpMethod.Post, "/api/runs", SmallSweep);
        Assert.True(status is 201 or 200, body.ToString());

        // One page, opened while the sweep is queued or running, never reloaded: the poller moves both jobs to Succeeded.
        var run = await chromium.OpenAsync(new Uri(cluster.Silos[1].DashboardUrl, "#/run/dash-1")); // every silo serves it
        await run.WaitForSelectorAsync("[data-job='dash-1.male']");
        var timeout = new PageWaitForSelectorOptions { Timeout = (float)JobTimeout.TotalMilliseconds };
        await run.WaitForSelectorAsync("[data-job='dash-1.male'][data-state='Succeeded']", timeout);
        await run.WaitForSelectorAsync("[data-job='dash-1.hoodie'][data-state='Succeeded']", timeout);
        await run.WaitForSelectorAsync("[data-result='Hoodie']"); // the per-trait results table
        await run.WaitForSelectorAsync("h2:has-text('Succeeded')");
        Assert.Equal(0, await run.Locator("[data-command$='/cancel']").CountAsync()); // nothing left to cancel
        Assert.Equal("Succeeded", await cluster.StateOfAsync("dash-1.male"));
        // The sweep view: an F1 bar per trait, the run's profile and parameters.
        await run.WaitForSelectorAsync("svg[data-chart='f1'] [data-bar='Hoodie']");
        Assert.Equal(2, await run.Locator("svg[data-chart='f1'] [data-bar]").CountAsync());
        Assert.Contains("train_samples=200", await run.Locator("#run-spec").InnerTextAsync());
        Assert.Contains("quick", await run.Locator("#run-spec").InnerTextAsync());
        var compare = await chromium.OpenAsync(new Uri(cluster.Silos[0].DashboardUrl, "#/compare/dash-1/dash-1"));
        await compare.WaitForSelectorAsync("[data-compare='Male'][data-delta='0']");

        var home = await chromium.OpenAsync(cluster.Silos[0].DashboardUrl);
        await home.WaitForSelectorAsync("[data-run='dash-1'][data-state='Succeeded']");
        Assert.True(await home.Locator("[data-worker][data-alive='true']").CountAsync() >= 2); // the cluster view

        var job = await chromium.OpenAsync(new Uri(cluster.Silos[0].DashboardUrl, "#/job/dash-1.male"));
        var curve = await job.WaitForSelectorAsync("svg[data-metric='train_loss']");
        Assert.True(int.Parse(await curve!.GetAttributeAsync("data-points") ?? "0", System.Globalization.CultureInfo.InvariantCulture) >= 3);
        Assert.True(await job.Locator("svg[data-metric='train_loss'] .tick").CountAsync() >= 2); // a step axis with ticks
        Assert.True(await job.Locator("svg[data-metric='train_loss'] [data-epoch='2']").CountAsync() >= 1); // the epoch boundary
        Assert.DoesNotContain("epoch 0 / 0", await job.Locator("main").InnerTextAsync());
        await job.WaitForSelectorAsync("[data-event='Succeeded']"); // the state timeline
        Assert.Equal(0, await job.Locator("[data-command]").CountAsync()); // a succeeded job can be neither cancelled nor retried
        Assert.Equal(0, await job.Locator("#load-error").CountAsync());

        // Its log tab: the worker's and the trainer's lines, epoch by epoch.
        await job.ClickAsync("nav.tabs a:has-text('Log')");
        await job.WaitForSelectorAsync("[data-log-line]:has-text('Trait Male epoch 2/2')");
        await job.WaitForSelectorAsync("[data-log-line]:has-text('attempt 1 succeeded')");
        Assert.Equal(0, await job.Locator("#load-error").CountAsync());
        var (logStatus, log) = await cluster.ApiAsync(HttpMethod.Get, "/api/jobs/dash-1.male/logs?tail=true&limit=1");
        Assert.Equal(200, logStatus);
        Assert.Contains("succeeded", Assert.Single(log.GetProperty("lines").EnumerateArray()).GetProperty("message").GetString());
        var (badStatus, bad) = await cluster.ApiAsync(HttpMethod.Get, "/api/jobs/dash-1.male/logs?tail=maybe");
        Assert.Equal(400, badStatus);
        Assert.Contains("tail='maybe' is not allowed: true or false", bad.GetProperty("detail").GetString());
        Assert.Equal(404, (await cluster.ApiAsync(HttpMethod.Get, "/api/jobs/no-such-job/logs")).Status);
    }

    [Fact]
    public async Task The_pages_offer_cancel_while_a_job_runs_and_retry_once_it_is_cancelled()
    {
        var (status, body) = await cluster.ApiAsync(HttpMethod.Post, "/api/runs",
            """{"run_id": "dash-cancel", "kind": "noop", "parameters": {"duration_ms": 600000}}""");
        Assert.True(status is 201 or 200, body.ToString());
        await using var chromium = await HeadlessChromium.LaunchAsync();
        var job = await chromium.OpenAsync(new Uri(cluster.Silos[0].DashboardUrl, "#/job/dash-cancel.noop"));
        await job.WaitForSelectorAsync("[data-command='/jobs/dash-cancel.noop/cancel']");
        Assert.Equal(0, await job.Locator("[data-command$='/retry']").CountAsync());
        var run = await chromium.OpenAsync(new Uri(cluster.Silos[0].DashboardUrl, "#/run/dash-cancel"));
        await run.WaitForSelectorAsync("[data-command='/runs/dash-cancel/cancel']");
        var log = await chromium.OpenAsync(new Uri(cluster.Silos[0].DashboardUrl, "#/job/dash-cancel.noop/log"));
        await log.WaitForSelectorAsync("[data-log-line]:has-text('starting from scratch')", new PageWaitForSelectorOptions { Timeout = 30_000 });

        Assert.Equal(200, (await cluster.ApiAsync(HttpMethod.Post, "/api/runs/dash-cancel/cancel")).Status);
        await cluster.WaitUntilAsync(async () => await cluster.StateOfAsync("dash-cancel.noop") == "Cancelled", JobTimeout, "the cancelled noop job");
        // The open pages follow: the job offers retry only, the run nothing.
        await job.WaitForSelectorAsync("[data-command='/jobs/dash-cancel.noop/retry']", new PageWaitForSelectorOptions { Timeout = 30_000 });
        Assert.Equal(0, await job.Locator("[data-command$='/cancel']").CountAsync());
        await run.WaitForSelectorAsync("[data-command='/runs/dash-cancel/cancel']", new PageWaitForSelectorOptions { State = WaitForSelectorState.Detached, Timeout = 30_000 });
        // The open log tab follows too: the worker's lines about the cancellation arrive without a reload.
        // (The worker says so as it learns of it, from the database's notification or its heartbeat, whichever comes first.)
        await log.WaitForSelectorAsync("[data-log-line][data-level='Information']:has-text('cancelled; stopping it'), [data-log-line][data-level='Warning']:has-text('cancelled; stopping it')",
            new PageWaitForSelectorOptions { Timeout = 30_000 });
    }

    [Fact]
    public async Task A_vae_jobs_image_artifacts_are_shown_inline()
    {
        var (status, _) = await cluster.ApiAsync(HttpMethod.Post, "/api/runs",
            """{"run_id": "dash-vae", "kind": "vae", "profile": "quick", "parameters": {"train_limit": "16", "test_limit": "8", "batch_size": "8", "judge_epochs": "0"}}""");
        Assert.Equal(201, status);
        await cluster.WaitUntilAsync(async () => await cluster.StateOfAsync("dash-vae.vae") is "Succeeded" or "Failed", JobTimeout, "the VAE job");
        await using var chromium = await HeadlessChromium.LaunchAsync();
        var page = await chromium.OpenAsync(new Uri(cluster.Silos[0].DashboardUrl, "#/job/dash-vae.vae"));
        var image = await page.WaitForSelectorAsync("img[alt='samples.png']");
        await page.WaitForFunctionAsync("() => document.querySelector(\"img[alt='samples.png']\").naturalWidth > 0");
        Assert.True(await image!.EvaluateAsync<int>("img => img.naturalWidth") >= 128); // decoded: a real PNG came back
    }

    [Fact]
    public async Task Mutating_requests_need_the_token_and_bad_requests_change_nothing()
    {
        var body = """{"run_id": "tok-1", "kind": "vae", "profile": "quick"}""";
        var (noToken, error) = await cluster.ApiAsync(HttpMethod.Post, "/api/runs", body, token: null);
        Assert.Equal(401, noToken);
        Assert.Contains("Bearer", error.GetProperty("detail").GetString());
        Assert.Equal(401, (await cluster.ApiAsync(HttpMethod.Post, "/api/runs", body, token: "wrong")).Status);
        Assert.Equal(401, (await cluster.ApiAsync(HttpMethod.Delete, "/api/schedules/anything", token: null)).Status);
        Assert.Equal(404, (await cluster.ApiAsync(HttpMethod.Get, "/api/runs/tok-1", token: null)).Status); // nothing was stored

        var (badJson, badJsonError) = await cluster.ApiAsync(HttpMethod.Post, "/api/runs", "{not json");
        Assert.Equal(400, badJson);
        Assert.Contains("is not valid JSON", badJsonError.GetProperty("detail").GetString());
        var (badTrait, badTraitError) = await cluster.ApiAsync(HttpMethod.Post, "/api/runs", """{"run_id": "tok-2", "kind": "trait", "targets": ["Wings"]}""");
        Assert.Equal(400, badTrait);
        Assert.Contains("unknown trait 'Wings'", badTraitError.GetProperty("detail").GetString());
        Assert.Equal(400, (await cluster.ApiAsync(HttpMethod.Post, "/api/runs", """{"run_id": "tok-3", "kind": "mnist"}""")).Status);
        Assert.Equal(404, (await cluster.ApiAsync(HttpMethod.Get, "/api/runs/tok-2")).Status);
        var (badCron, badCronError) = await cluster.ApiAsync(HttpMethod.Post, "/api/schedules", """{"name": "x", "cron": "99 * * * *", "run": {"kind": "vae"}}""");
        Assert.Equal(400, badCron);
        Assert.Contains("cron '99 * * * *'", badCronError.GetProperty("detail").GetString());
        Assert.Equal(0, (await cluster.ApiAsync(HttpMethod.Get, "/api/schedules")).Body.EnumerateArray().Count(s => s.GetProperty("name").GetString() == "x"));

        Assert.Equal(404, (await cluster.ApiAsync(HttpMethod.Post, "/api/jobs/no-such.job/cancel")).Status);
        Assert.Equal(404, (await cluster.ApiAsync(HttpMethod.Get, "/api/jobs/no-such.job", token: null)).Status);
        Assert.Equal(404, (await cluster.ApiAsync(HttpMethod.Get, "/api/no-such-endpoint", token: null)).Status);
        Assert.Equal(200, (await cluster.ApiAsync(HttpMethod.Get, "/api/cluster", token: null)).Status); // reads are open

        var (created, result) = await cluster.ApiAsync(HttpMethod.Post, "/api/runs", """{"run_id": "tok-ok", "kind": "vae", "profile": "quick", "parameters": {"train_limit": "16", "test_limit": "8", "batch_size": "8", "judge_epochs": "0"}}""");
        Assert.Equal(201, created);
        Assert.Equal(1, result.GetProperty("job_count").GetInt32());
        Assert.Equal(200, (await cluster.ApiAsync(HttpMethod.Post, "/api/runs", """{"run_id": "tok-ok", "kind": "vae", "profile": "quick"}""")).Status); // idempotent
        await cluster.WaitUntilAsync(async () => await cluster.StateOfAsync("tok-ok.vae") is "Succeeded" or "Failed", JobTimeout, "the API-submitted VAE");
        var (retry, retryError) = await cluster.ApiAsync(HttpMethod.Post, "/api/jobs/tok-ok.vae/retry");
        Assert.Equal(409, retry);
        Assert.Contains("tok-ok.vae", retryError.GetProperty("detail").GetString());
        using var png = await cluster.Http.GetAsync(new Uri(cluster.Silos[0].DashboardUrl, "api/jobs/tok-ok.vae/artifacts/samples.png"));
        Assert.Equal("image/png", png.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Metrics_are_scraped_by_prometheus_and_traces_exported_over_otlp()
    {
        var (status, _) = await cluster.ApiAsync(HttpMethod.Post, "/api/runs",
            """{"run_id": "otel-1", "kind": "trait", "targets": ["Smile"], "profile": "quick", "parameters": {"train_samples": "200", "epochs": "2"}}""");
        Assert.Equal(201, status);
        await cluster.WaitUntilAsync(async () => await cluster.StateOfAsync("otel-1.smile") == "Succeeded", JobTimeout, "the traced job");

        string scrape = "";
        await cluster.WaitUntilAsync(async () =>
        {
            scrape = string.Concat(await Task.WhenAll(cluster.Silos.Select(s => cluster.Http.GetStringAsync(new Uri(s.DashboardUrl, "metrics")))));
            // punkgrid_jobs is sampled from PostgreSQL every JobStateSampler.Interval, so it sees the job a little later
            return scrape.Contains("punkgrid_jobs_running_local", StringComparison.Ordinal)
                && scrape.Contains("punkgrid_epoch_duration_seconds_count", StringComparison.Ordinal)
                && Regex.IsMatch(scrape, "punkgrid_jobs\\{[^}]*state=\"Succeeded\"[^}]*\\} [1-9]"); // jobs by state
        }, TimeSpan.FromSeconds(30), "the job metrics on /metrics");
        Assert.Contains("punkgrid_jobs{", scrape);
        Assert.Contains("punkgrid_runs_submitted_total", scrape);
        Assert.Contains("punkgrid_checkpoint_size_bytes", scrape);
        Assert.Matches("punkgrid_job_logs_lines(\\{[^}]*\\})? [1-9]", scrape); // the job logs' size, sampled from PostgreSQL
        Assert.Contains("punkgrid_job_logs_size_bytes", scrape);
        Assert.Contains("orleans_", scrape); // Orleans' own meters

        await cluster.WaitUntilAsync(() => Task.FromResult(
            new[] { "submit", "lease", "epoch", "checkpoint" }.All(cluster.Otlp.SpanNames().Contains)
            && cluster.Otlp.MetricNames().Contains("punkgrid.jobs.leased")), TimeSpan.FromSeconds(30), "spans and metrics over OTLP");
    }
}
