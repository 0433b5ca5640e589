using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;

namespace PunkGrid.Bench.Orchestrator;

/// <summary>Percentiles of a sample, and readings of processes from /proc.</summary>
public static class Measure
{
    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }
        var sorted = values.Order().ToList();
        var rank = p / 100 * (sorted.Count - 1);
        var (low, high) = ((int)Math.Floor(rank), (int)Math.Ceiling(rank));
        return sorted[low] + ((sorted[high] - sorted[low]) * (rank - low));
    }

    public static string Ms(double value) => value.ToString("0.0", CultureInfo.InvariantCulture);

    /// <summary>The peak resident memory of a process (VmHWM), in MiB; 0 when it is gone.</summary>
    public static double PeakMemoryMb(int? pid) => ReadStatus(pid, "VmHWM:") / 1024.0;

    private static long ReadStatus(int? pid, string field)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>
    /// User + system CPU seconds of processes so far (from /proc/PID/stat), including their children that have exited and
    /// been reaped (PostgreSQL's backends of closed connections count towards their postmaster).
    /// </summary>
    public static double CpuSeconds(IEnumerable<int> pids)
    {
        var ticks = 0L;
        foreach (var pid in pids)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                ticks += fields[11..15].Sum(f => long.Parse(f, CultureInfo.InvariantCulture));
            }
            catch (IOException)
            {
            }
        }
        return ticks / 100.0; // USER_HZ
    }

    /// <summary>The machine's busy CPU seconds so far, all cores together (from /proc/stat: everything but idle and iowait).</summary>
    public static double MachineBusySeconds()
    {
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..]
            .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        return (fields.Take(8).Sum() - fields[3] - fields[4]) / 100.0;
    }
}

/// <summary>The cluster's HTTP API, as an operator's script would use it.</summary>
public sealed class BenchApi(int port, string token) : IDisposable
{
    private readonly HttpClient http = new() { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromMinutes(2) };

    public async Task<(int Status, double Milliseconds, string Body)> SubmitAsync(string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/runs") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var clock = Stopwatch.StartNew();
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, clock.Elapsed.TotalMilliseconds, body);
    }

    public async Task<(int Status, double Milliseconds)> GetAsync(string path)
    {
        var clock = Stopwatch.StartNew();
        using var response = await http.GetAsync(path.TrimStart('/'));
        await response.Content.ReadAsByteArrayAsync();
        return ((int)response.StatusCode, clock.Elapsed.TotalMilliseconds);
    }

    public async Task<string> PostAsync(string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path.TrimStart('/'));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        return await response.Content.ReadAsStringAsync();
    }

    public void Dispose() => http.Dispose();
}
