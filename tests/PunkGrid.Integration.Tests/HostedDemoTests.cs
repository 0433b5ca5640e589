using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// Issue 29's "README's multi-host deployment, run as written": <c>infra/hosts-demo.sh</c> (what <c>./punkgrid demo-hosts</c>
/// runs) follows docs/OPERATIONS.md's several-machines section on hosts of their own — PostgreSQL on <c>db</c>, silos on
/// <c>s1</c>-<c>s3</c>, the CLI on <c>operator</c> — and sweeps all 92 traits across the silos; then a browser on
/// <c>operator</c> reads the run on one silo's dashboard.
/// </summary>
public partial class HostedDemoTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [GeneratedRegex(@"hosts-demo: run (\S+)")]
    private static partial Regex RunLine();

    [GeneratedRegex(@"http://(\S+):8080/#token=([0-9a-f]+)")]
    private static partial Regex DashboardLink();

    [GeneratedRegex(@"kept running \(folder (\S+), database folder (\S+)\)")]
    private static partial Regex KeptFolders();

    [HostsFact]
    public async Task The_several_machines_deployment_runs_as_written_and_sweeps_all_92_traits_across_three_silo_hosts()
    {
        var name = $"d{Environment.ProcessId % 100_000}";
        var clock = Stopwatch.StartNew();
        var (code, text) = await RunDemoAsync(name);
        var folders = KeptFolders().Match(text);
        try
        {
            output.WriteLine($"hosts-demo took {clock.Elapsed.TotalSeconds:F0} s");
            output.WriteLine(text);
            Assert.True(code == 0, text);
            Assert.Contains("3 silos up; the CLI on operator found them through the membership table", text);
            Assert.Contains("92/92 succeeded", text);
            // The results table, read on operator: every trait has its row (a few of them here).
            foreach (var trait in new[] { "Male", "Female", "Hoodie", "Earring", "Zombie" })
            {
                Assert.Contains($" {trait} ", text);
            }
            // Every silo host ran some of the sweep.
            foreach (var host in HostedCluster.ThreeSiloHosts)
            {
                Assert.Matches($@"(?m)^\s+\d+ {host}$", text);
            }

            // A browser on operator: s2's dashboard (its host address, its token) shows the sweep finished, with results.
            var run = RunLine().Match(text).Groups[1].Value;
            var s2Address = Regex.Match(text, @"(?m)^  s2 (\S+)$").Groups[1].Value;
            var s2 = DashboardLink().Matches(text).Single(m => m.Groups[1].Value == s2Address);
            var wrapper = Path.Combine(Path.GetTempPath(), $"chromium-in-{name}-operator.sh");
            await File.WriteAllTextAsync(wrapper, $"#!/bin/sh\nexec ip netns exec {name}-operator {HeadlessChromium.Executable} \"$@\"\n");
            await NetworkHosts.RunProcessAsync(TimeSpan.FromSeconds(10), "chmod", ["700", wrapper]);
            try
            {
                await using var chromium = await HeadlessChromium.LaunchAsync(wrapper);
                var page = await chromium.OpenAsync(new Uri($"http://{s2.Groups[1].Value}:8080/#token={s2.Groups[2].Value}"));
                await page.WaitForSelectorAsync($"[data-run='{run}'][data-state='Succeeded']");
                Assert.Equal(3, await page.Locator("[data-worker][data-alive='true']").CountAsync()); // the three silos
                var detail = await chromium.OpenAsync(new Uri($"http://{s2.Groups[1].Value}:8080/#/run/{run}"));
                await detail.WaitForSelectorAsync("[data-result='Hoodie']", new PageWaitForSelectorOptions { Timeout = 30_000 });
                Assert.Equal(92, await detail.Locator("[data-result]").CountAsync());
            }
            finally
            {
                File.Delete(wrapper);
            }
        }
        finally
        {
            await NetworkHosts.RunScriptAsync(TimeSpan.FromMinutes(1), "down", name);
            if (folders.Success)
            {
                Directory.Delete(folders.Groups[1].Value, recursive: true);
                Directory.Delete(folders.Groups[2].Value, recursive: true);
            }
        }
    }

    /// <summary>The script as an operator runs it (the test's own builds of the silo and the CLI), kept up for the browser.</summary>
    private static async Task<(int Code, string Output)> RunDemoAsync(string name)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = PostgresServer.RepositoryRoot };
        foreach (var argument in new[] { Path.Combine(PostgresServer.RepositoryRoot, "infra", "hosts-demo.sh"), "--profile", "quick", "--name", name, "--keep" })
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["PUNKGRID_SILO_DLL"] = PostgresServer.Metadata("SiloAssembly");
        start.Environment["PUNKGRID_CLIENT_DLL"] = PostgresServer.Metadata("ClientAssembly");
        start.Environment["PUNKGRID_HOSTS_OWNER"] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(15));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        return (process.ExitCode, await stdout + await stderr);
    }
}
