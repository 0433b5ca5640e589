using System.Diagnostics;
using System.Text.RegularExpressions;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// The Prometheus alerting rules (<c>infra/observability/alerts.yml</c>) pass <c>promtool check rules</c> and their unit
/// tests (<c>alerts.test.yml</c>, <c>promtool test rules</c>), and every rule has a test in which it fires.
/// </summary>
public sealed partial class AlertRuleTests
{
    public static string Observability => Path.Combine(PostgresServer.RepositoryRoot, "infra", "observability");

    /// <summary>Debian's prometheus package's binaries (<c>infra/run-tests.sh</c> installs it), or <c>PUNKGRID_PROMETHEUS_BIN</c>'s folder.</summary>
    public static string Tool(string name)
    {
        var folder = Environment.GetEnvironmentVariable("PUNKGRID_PROMETHEUS_BIN");
        foreach (var candidate in new[] { folder is null ? null : Path.Combine(folder, name), $"/usr/bin/{name}", $"/usr/local/bin/{name}" })
        {
            if (candidate is not null && File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException($"{name} not found: install Debian's prometheus package (apt-get install prometheus; ./punkgrid test does) or set PUNKGRID_PROMETHEUS_BIN");
    }

    private static async Task<(int Exit, string Output)> RunAsync(string tool, params string[] args)
    {
        var start = new ProcessStartInfo(Tool(tool)) { WorkingDirectory = Observability, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await error);
    }

    [GeneratedRegex(@"^\s*- alert: (\w+)", RegexOptions.Multiline)]
    private static partial Regex AlertName();

    [GeneratedRegex(@"alertname: (\w+)\s*\n\s*exp_alerts:\s*\n\s*- exp_labels", RegexOptions.Multiline)]
    private static partial Regex FiringTest();

    /// <summary>The alert names of alerts.yml.</summary>
    public static IReadOnlyList<string> AlertNames() =>
        AlertName().Matches(File.ReadAllText(Path.Combine(Observability, "alerts.yml"))).Select(m => m.Groups[1].Value).ToList();

    [Fact]
    public async Task The_alert_rules_are_valid_and_pass_their_promtool_unit_tests()
    {
        var check = await RunAsync("promtool", "check", "rules", "alerts.yml");
        Assert.True(check.Exit == 0, check.Output);
        var test = await RunAsync("promtool", "test", "rules", "alerts.test.yml");
        Assert.True(test.Exit == 0, test.Output);
        Assert.Contains("SUCCESS", test.Output);
    }

    [Fact]
    public void Every_alert_has_a_unit_test_in_which_it_fires()
    {
        var names = AlertNames();
        Assert.True(names.Count >= 10, string.Join(", ", names));
        var firing = FiringTest().Matches(File.ReadAllText(Path.Combine(Observability, "alerts.test.yml"))).Select(m => m.Groups[1].Value).ToHashSet();
        Assert.All(names, n => Assert.Contains(n, firing));
        // What the issue asks an operator to hear about, each by a rule.
        Assert.Superset(new HashSet<string>(["PunkGridWorkerSilent", "PunkGridQueueStuckWithIdleSlots", "PunkGridJobStalled", "PunkGridJobsFailed",
            "PunkGridScheduleMissed", "PunkGridScheduleFailed", "PunkGridJobsQuarantined", "PunkGridDatabaseUnreachable"]), names.ToHashSet());
    }
}
