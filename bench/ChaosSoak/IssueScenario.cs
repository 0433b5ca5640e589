using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using PunkGrid.Bench.Shared;
using PunkGrid.Tests.Shared;

namespace PunkGrid.Bench.ChaosSoak;

/// <summary>
/// The scenario that stalled the old in-memory queue (issue 12), with real trait jobs and the default 20 s leases:
/// 8 seed-profile trait jobs (4 epochs, RGB) on 2 silos; silo-1 SIGKILLed after 30 s; 25 s later PostgreSQL stopped for
/// 15 s and started on its port; 20 s later silo-1 started again on its old ports. Then every job must finish, none past
/// attempt 2.
/// </summary>
public static class IssueScenario
{
    private static readonly string[] Traits = ["Male", "Female", "Earring", "Hoodie", "Cigarette", "Mohawk", "Smile", "Big Shades"];

    public static async Task<int> RunAsync(LocalCluster cluster, string token, TextWriter log)
    {
        var clock = Stopwatch.StartNew();
        async Task Say(string what) => await log.WriteLineAsync($"{clock.Elapsed.TotalSeconds,6:F1}s {what}");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var targets = string.Join(", ", Traits.Select(t => $"\"{t}\""));
        var body = "{\"run_id\": \"issue12\", \"kind\": \"trait\", \"targets\": [" + targets +
            "], \"profile\": \"seed\", \"parameters\": {\"epochs\": 4, \"color\": \"rgb\"}}";
        using (var request = new HttpRequestMessage(HttpMethod.Post, $"{cluster.Silos[0].DashboardUrl}/api/runs")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        })
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await http.SendAsync(request);
            await Say($"submitted 8 seed trait jobs (4 epochs, rgb): {(int)response.StatusCode}");
            response.EnsureSuccessStatusCode();
        }
        await Task.Delay(TimeSpan.FromSeconds(30));
        cluster.Silos[0].Kill();
        await Say("SIGKILL silo-1");
        await Task.Delay(TimeSpan.FromSeconds(25));
        await cluster.StopDatabaseAsync();
        await Say("PostgreSQL stopped (pg_ctl -m fast)");
        await Task.Delay(TimeSpan.FromSeconds(15));
        await cluster.StartDatabaseAsync();
        await Say("PostgreSQL started on its port");
        await Task.Delay(TimeSpan.FromSeconds(20));
        await cluster.RestartAsync(cluster.Silos[0]);
        await Say("silo-1 started again on its old ports");

        var lastFault = clock.Elapsed;
        while (clock.Elapsed < lastFault + TimeSpan.FromMinutes(30))
        {
            await using var command = cluster.Database.CreateCommand("select count(*) from jobs where state in ('Queued', 'Running')");
            if ((long)(await command.ExecuteScalarAsync())! == 0)
            {
                break;
            }
            await Task.Delay(TimeSpan.FromSeconds(5));
        }
        await Say("every job terminal");
        var report = await ClusterInvariants.CheckAsync(cluster.Database, "issue12");
        Console.WriteLine($"| job | state | attempt | lost leases | failures | F1 |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- |");
        await using (var jobs = cluster.Database.CreateCommand(
            "select job_id, state, attempt, lost_leases, failures, coalesce(round((evaluation->>'f1')::numeric, 4)::text, '') from jobs where run_id = 'issue12' order by job_id"))
        await using (var reader = await jobs.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                Console.WriteLine($"| {reader.GetString(0)} | {reader.GetString(1)} | {reader.GetInt32(2)} | {reader.GetInt32(3)} | {reader.GetInt32(4)} | {reader.GetString(5)} |");
            }
        }
        Console.WriteLine();
        Console.WriteLine($"Checker: {report}; {(clock.Elapsed - lastFault).TotalSeconds:F0} s from silo-1's return until every job was terminal.");
        return report.Holds && report.ByState.GetValueOrDefault("Succeeded") == Traits.Length && report.MaxAttempt <= 2 ? 0 : 1;
    }
}
