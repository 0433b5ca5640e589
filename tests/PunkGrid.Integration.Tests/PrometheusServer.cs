using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// A real Prometheus server (Debian's package) on a free loopback port, scraping the given silos' <c>/metrics</c> every
/// second as job <c>punkgrid</c> and evaluating <c>alerts.yml</c> every second; its data in a temporary folder, removed
/// with it.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private readonly Process process;
    private readonly string folder;
    private readonly HttpClient http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private PrometheusServer(Process process, string folder, Uri url)
    {
        this.process = process;
        this.folder = folder;
        Url = url;
    }

    public Uri Url { get; }

    public static async Task<PrometheusServer> StartAsync(IEnumerable<string> targets)
    {
        var folder = Directory.CreateTempSubdirectory("punkgrid-prometheus-").FullName;
        var config = Path.Combine(folder, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files:
              - {Path.Combine(AlertRuleTests.Observability, "alerts.yml")}
            scrape_configs:
              - job_name: punkgrid
                metrics_path: /metrics
                static_configs:
                  - targets: [{string.Join(", ", targets.Select(t => $"\"{t}\""))}]
            """);
        var port = SiloProcess.FreePort();
        var start = new ProcessStartInfo(AlertRuleTests.Tool("prometheus"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[] { $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(folder, "data")}", $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn" })
        {
            start.ArgumentList.Add(arg);
        }
        var process = Process.Start(start)!;
        var log = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new PrometheusServer(process, folder, new Uri($"http://127.0.0.1:{port}/"));
        for (var i = 0; i < 60; i++)
        {
            if (process.HasExited)
            {
                break;
            }
            try
            {
                using var ready = await server.http.GetAsync(new Uri(server.Url, "-/ready"));
                if (ready.IsSuccessStatusCode)
                {
                    return server;
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(500);
        }
        await server.DisposeAsync();
        throw new InvalidOperationException($"prometheus did not become ready in 30 s: {log}");
    }

    /// <summary>An instant query: the result's series (an error from Prometheus fails the call, naming the query).</summary>
    public async Task<IReadOnlyList<JsonElement>> QueryAsync(string promql)
    {
        var json = await http.GetStringAsync(new Uri(Url, $"api/v1/query?query={Uri.EscapeDataString(promql)}"));
        var root = JsonDocument.Parse(json).RootElement;
        if (root.GetProperty("status").GetString() != "success")
        {
            throw new InvalidOperationException($"query {promql} failed: {json}");
        }
        return root.GetProperty("data").GetProperty("result").EnumerateArray().ToList();
    }

    /// <summary>Every rule's name, health and last error, once each rule has been evaluated.</summary>
    public async Task<IReadOnlyList<(string Name, string Health, string? Error, bool Evaluated)>> RulesAsync()
    {
        var json = await http.GetStringAsync(new Uri(Url, "api/v1/rules"));
        return JsonDocument.Parse(json).RootElement.GetProperty("data").GetProperty("groups").EnumerateArray()
            .SelectMany(g => g.GetProperty("rules").EnumerateArray())
            .Select(r => (r.GetProperty("name").GetString()!, r.GetProperty("health").GetString()!,
                r.TryGetProperty("lastError", out var e) ? e.GetString() : null,
                DateTimeOffset.Parse(r.GetProperty("lastEvaluation").GetString()!, CultureInfo.InvariantCulture).Year > 2000))
            .ToList();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }
        finally
        {
            process.Dispose();
            http.Dispose();
            Directory.Delete(folder, recursive: true);
        }
    }
}
