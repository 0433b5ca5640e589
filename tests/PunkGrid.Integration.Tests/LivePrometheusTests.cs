using System.Text.Json;
using System.Text.RegularExpressions;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// The observability kit against a live cluster: a real Prometheus scrapes both silos and evaluates the alert rules;
/// every query of the Grafana dashboard returns series, and every alert rule evaluates without error over metrics the
/// silos export (each metric an alert reads has series).
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed partial class LivePrometheusTests(ClusterFixture cluster)
{
    [GeneratedRegex(@"^\s*expr: (.+)$", RegexOptions.Multiline)]
    private static partial Regex AlertExpression();

    [GeneratedRegex(@"\b([a-z_:][a-z0-9_:]*)\s*\{")]
    private static partial Regex Selector();

    private static IReadOnlyList<string> DashboardQueries()
    {
        var dashboard = JsonDocument.Parse(File.ReadAllText(Path.Combine(AlertRuleTests.Observability, "grafana", "dashboards", "punkgrid.json"))).RootElement;
        return dashboard.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.TryGetProperty("targets", out var targets) ? targets.EnumerateArray() : Enumerable.Empty<JsonElement>())
            .Select(t => t.GetProperty("expr").GetString()!)
            .ToList();
    }

    [Fact]
    public async Task A_real_prometheus_scraping_the_silos_gets_series_for_every_dashboard_query_and_alert()
    {
        // A small trait job, so the training histograms (epochs, samples/s, checkpoints) have observations.
        var submit = await cluster.Cli("submit", "traits", "--traits", "Earring", "--profile", "quick", "--epochs", "1", "--train-samples", "200", "--run-id", "prometheus-1");
        Assert.True(submit.Exit == 0, submit.Error);
        await cluster.WaitUntilAsync(async () => await cluster.StateOfAsync("prometheus-1.earring") == "Succeeded", TimeSpan.FromMinutes(4), "the job");

        var live = cluster.Silos.Where(s => !s.HasExited).ToList();
        await using var prometheus = await PrometheusServer.StartAsync(live.Select(s => $"127.0.0.1:{s.DashboardPort}"));
        await cluster.WaitUntilAsync(async () =>
            (await prometheus.QueryAsync("up{job=\"punkgrid\"} == 1")).Count == live.Count
            && (await prometheus.QueryAsync("count_over_time(up{job=\"punkgrid\"}[1m])")).All(s => double.Parse(s.GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture) >= 3),
            TimeSpan.FromSeconds(60), "Prometheus to scrape every silo a few times");

        var queries = DashboardQueries();
        Assert.True(queries.Count >= 10, $"{queries.Count} dashboard queries");
        var empty = new List<string>();
        foreach (var query in queries)
        {
            if ((await prometheus.QueryAsync(query)).Count == 0)
            {
                empty.Add(query);
            }
        }
        Assert.True(empty.Count == 0, "dashboard queries without series:\n" + string.Join("\n", empty));

        var alerts = AlertExpression().Matches(File.ReadAllText(Path.Combine(AlertRuleTests.Observability, "alerts.yml"))).Select(m => m.Groups[1].Value.Trim()).ToList();
        Assert.Equal(AlertRuleTests.AlertNames().Count, alerts.Count);
        var missing = new List<string>();
        foreach (var expression in alerts)
        {
            await prometheus.QueryAsync(expression); // evaluates (an error throws)
            foreach (var metric in Selector().Matches(expression).Select(m => m.Groups[1].Value).Distinct())
            {
                if ((await prometheus.QueryAsync($"{metric}{{job=\"punkgrid\"}}")).Count == 0)
                {
                    missing.Add($"{metric} (in {expression})");
                }
            }
        }
        Assert.True(missing.Count == 0, "alert metrics without series:\n" + string.Join("\n", missing));

        // Prometheus itself evaluated every rule, without error, and a healthy cluster fires none of the paging ones.
        IReadOnlyList<(string Name, string Health, string? Error, bool Evaluated)> rules = [];
        await cluster.WaitUntilAsync(async () => (rules = await prometheus.RulesAsync()).Count == alerts.Count && rules.All(r => r.Evaluated),
            TimeSpan.FromSeconds(30), "every rule to be evaluated");
        Assert.All(rules, r => Assert.True(r.Health == "ok", $"{r.Name}: {r.Health} {r.Error}"));
        var firing = await prometheus.QueryAsync("ALERTS{alertstate=\"firing\",severity=\"page\"}");
        Assert.True(firing.Count == 0, string.Join("\n", firing));
    }
}
