using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

using PunkGrid.Bench.Shared;

namespace PunkGrid.Bench.ChaosSoak;

/// <summary>
/// Keeps the cluster busy through its HTTP API: noop runs of 10 jobs of random length, epochs, metric rate and checkpoint
/// size, submitted whenever fewer jobs are queued than twice the cluster's slots. A submit that fails (the silo it asked
/// is dead, the database is down) is tried again with the same run id, which makes it idempotent.
/// </summary>
public sealed class Workload(LocalCluster cluster, Random random, string token, int totalSlots, TextWriter log) : IDisposable
{
    private readonly HttpClient http = new() { Timeout = TimeSpan.FromSeconds(15) };
    private int next;
    private (string RunId, string Body)? pending;

    public List<string> Runs { get; } = [];

    public List<string> PoisonRuns { get; } = [];

    public int JobsSubmitted { get; private set; }

    public async Task TopUpAsync(CancellationToken cancellation)
    {
        long queued;
        try
        {
            await using var command = cluster.Database.CreateCommand("select count(*) from jobs where state = 'Queued'");
            queued = (long)(await command.ExecuteScalarAsync(cancellation))!;
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or TimeoutException)
        {
            return; // the database is down: nothing to decide now
        }
        if (queued >= totalSlots * 2 && pending is null)
        {
            return;
        }
        pending ??= NextRun();
        if (await PostAsync(pending.Value.Body, cancellation))
        {
            Runs.Add(pending.Value.RunId);
            JobsSubmitted += 10;
            pending = null;
        }
    }

    private (string, string) NextRun()
    {
        var runId = $"soak-{++next:0000}";
        var epochs = random.Next(2, 6);
        var body = JsonSerializer.Serialize(new
        {
            run_id = runId,
            kind = "noop",
            profile = "quick",
            parameters = new Dictionary<string, string>
            {
                ["jobs"] = "10",
                ["epochs"] = $"{epochs}",
                ["duration_ms"] = $"{random.Next(4, 20) * 1000}",
                ["metrics_per_second"] = $"{random.Next(5, 50)}",
                ["checkpoint_bytes"] = $"{(random.Next(4) == 0 ? random.Next(1, 8) << 20 : 64 << 10)}",
            },
        });
        return (runId, body);
    }

    /// <summary>A job that kills every worker that runs it: the cluster must quarantine it (it is not "lost").</summary>
    public async Task SubmitPoisonAsync(CancellationToken cancellation)
    {
        var runId = $"poison-{PoisonRuns.Count + 1:000}";
        var body = JsonSerializer.Serialize(new
        {
            run_id = runId,
            kind = "noop",
            profile = "quick",
            parameters = new Dictionary<string, string> { ["duration_ms"] = "2000", ["epochs"] = "2", ["fault"] = "exit-process" },
        });
        for (var i = 0; i < 20 && !await PostAsync(body, cancellation); i++)
        {
            await Task.Delay(1000, cancellation);
        }
        PoisonRuns.Add(runId);
    }

    private async Task<bool> PostAsync(string body, CancellationToken cancellation)
    {
        foreach (var silo in cluster.Silos.Where(s => s.Alive && !s.Frozen).OrderBy(_ => random.Next()))
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, $"{silo.DashboardUrl}/api/runs")
                {
                    Content = new StringContent(body, Encoding.UTF8, "application/json"),
                };
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                using var response = await http.SendAsync(request, cancellation);
                if (response.IsSuccessStatusCode)
                {
                    return true;
                }
                if ((int)response.StatusCode is >= 400 and < 500)
                {
                    await log.WriteLineAsync($"submit refused ({(int)response.StatusCode}): {await response.Content.ReadAsStringAsync(cancellation)}");
                    return false;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellation.IsCancellationRequested)
            {
                // that silo is dying or the database is down: try another, or the next round
            }
        }
        return false;
    }

    public void Dispose() => http.Dispose();
}
