using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using PunkGrid.Bench.Orchestrator;
using PunkGrid.Bench.Shared;
using PunkGrid.Server;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Storage;
using PunkGrid.Server.Worker;
using PunkGrid.Training.Trainers;

// The orchestrator benchmark (bench/orchestrator.sh): one local cluster — a durable PostgreSQL and 2 silos × 64 slots —
// measured in one run. Prints the Markdown tables of docs/BENCHMARKS.md ("The orchestrator"). --quick: a smoke run.
var settings = args.Select((a, i) => (a, i)).Where(p => p.a.StartsWith("--", StringComparison.Ordinal))
    .ToDictionary(p => p.a[2..], p => p.i + 1 < args.Length && !args[p.i + 1].StartsWith("--", StringComparison.Ordinal) ? args[p.i + 1] : "");
var quick = settings.ContainsKey("quick");
var repository = Path.GetFullPath(settings.GetValueOrDefault("repository") ?? Directory.GetCurrentDirectory());
var siloDll = settings.GetValueOrDefault("silo-dll") ?? Path.Combine(repository, "silo", "bin", "Release", "net10.0", "PunkGrid.Silo.dll");
var slots = int.Parse(settings.GetValueOrDefault("slots") ?? "64", CultureInfo.InvariantCulture);
int[] sizes = quick ? [200, 1000] : [1_000, 10_000, 100_000];
const string Token = "orchestrator-bench-token-0123456789";
var log = Console.Error;
var culture = CultureInfo.InvariantCulture;
var clock = Stopwatch.StartNew();
async Task Say(string what) => await log.WriteLineAsync($"{clock.Elapsed.TotalSeconds,7:F1}s {what}");

await using var cluster = new LocalCluster(repository, siloDll, siloCount: 2, slots, TimeSpan.FromSeconds(20), Token,
    new Dictionary<string, string> { ["Logging__LogLevel__PunkGrid"] = "Warning" });
await Say($"starting PostgreSQL and 2 silos × {slots} slots");
await cluster.StartAsync();
using var api = new BenchApi(cluster.Silos[0].DashboardPort, Token);
// The benchmark's own connections are pooled (the cluster's default source is not, for the chaos soak's restarts): 200
// simulated workers must not open a connection per heartbeat, which would measure PostgreSQL's fork, not its work.
await using var db = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(cluster.Postgres) { MaxPoolSize = 40, Timeout = 30, CommandTimeout = 120 }.ConnectionString);
var options = Options.Create(new JobQueueOptions { LeaseTimeout = TimeSpan.FromMinutes(5) });
var queue = new JobQueue(db, options);
var metrics = new MetricStore(db);
const string Noop = "\"duration_ms\": 0, \"checkpoint_bytes\": 0, \"metrics_per_second\": 0";
Console.WriteLine($"Machine: {Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes >> 30} GiB; 2 silos × {slots} slots; PostgreSQL 15 (fsync on) on the same machine.");
Console.WriteLine();

async Task<long> CountAsync(string sql, string run)
{
    await using var command = db.CreateCommand(sql);
    command.Parameters.AddWithValue("run", run);
    return Convert.ToInt64(await command.ExecuteScalarAsync(), culture);
}

async Task WaitForAsync(string run, long count, TimeSpan limit)
{
    var deadline = Stopwatch.StartNew();
    while (await CountAsync("select count(*) from jobs where run_id = @run and state = 'Succeeded'", run) < count)
    {
        if (deadline.Elapsed > limit)
        {
            throw new TimeoutException($"{run}: not every job succeeded within {limit}");
        }
        await Task.Delay(count > 1 ? 500 : 20);
    }
}

// 1. Submit → Running with a free slot: single-job runs, one at a time, from the database's own timestamps (the submit's
//    event is written inside its transaction; the lease's when the worker's lease statement runs).
var latencyRuns = quick ? 20 : 200;
await Say($"latency: {latencyRuns} single-job runs, one at a time");
var posts = new List<double>();
for (var i = 0; i < latencyRuns; i++)
{
    var (status, ms, body) = await api.SubmitAsync("{\"run_id\": \"lat-" + i.ToString("000", culture) + "\", \"kind\": \"noop\", \"parameters\": {" + Noop + "}}");
    if (status != 201)
    {
        throw new InvalidOperationException($"submit refused: {status} {body}");
    }
    posts.Add(ms);
    await WaitForAsync($"lat-{i:000}", 1, TimeSpan.FromSeconds(30));
}
var latencies = new List<double>();
await using (var command = db.CreateCommand(
    "select extract(epoch from r.at - s.at) * 1000 from job_events s join job_events r on r.job_id = s.job_id and r.to_state = 'Running' " +
    "where s.detail = 'submitted' and starts_with(s.job_id, 'lat-')"))
await using (var reader = await command.ExecuteReaderAsync())
{
    while (await reader.ReadAsync())
    {
        latencies.Add(reader.GetDouble(0));
    }
}

// 2. Throughput: one run of N noop jobs, from the submit to its last success.
var throughput = new List<string>();
var submitTenThousand = double.NaN;
foreach (var n in sizes)
{
    var run = $"tput-{n}";
    await Say($"throughput: {n} jobs");
    var siloProcesses = cluster.Silos.Select(s => s.Pid ?? 0).ToList();
    var (databaseCpuBefore, siloCpuBefore, machineBefore) = (Measure.CpuSeconds(await cluster.DatabaseProcessesAsync()),
        Measure.CpuSeconds(siloProcesses), Measure.MachineBusySeconds());
    var (status, ms, body) = await api.SubmitAsync("{\"run_id\": \"" + run + "\", \"kind\": \"noop\", \"parameters\": {\"jobs\": " + n.ToString(culture) + ", " + Noop + "}}");
    if (status != 201)
    {
        throw new InvalidOperationException($"submit refused: {status} {body}");
    }
    if (n == 10_000)
    {
        submitTenThousand = ms;
    }
    await WaitForAsync(run, n, TimeSpan.FromMinutes(30));
    // From the run's submit to its last success, both the database's clock (the poll's own interval does not count).
    double seconds;
    await using (var span = db.CreateCommand("select extract(epoch from max(j.finished_at) - min(r.created_at))::float8 from jobs j join runs r on r.run_id = j.run_id where j.run_id = @run"))
    {
        span.Parameters.AddWithValue("run", run);
        seconds = (double)(await span.ExecuteScalarAsync())!;
    }
    // Live backends now, plus the postmaster's reaped children (backends that came and went during the run).
    var databaseCpu = Measure.CpuSeconds(await cluster.DatabaseProcessesAsync()) - databaseCpuBefore;
    var siloCpu = Measure.CpuSeconds(siloProcesses) - siloCpuBefore;
    var machineShare = (Measure.MachineBusySeconds() - machineBefore) / seconds / Environment.ProcessorCount;
    var size = await CountAsync("select pg_database_size(current_database()) + 0 * length(@run)", run);
    await Say($"  {n} jobs in {seconds:F1} s: {n / seconds:F0} jobs/s; PostgreSQL {databaseCpu * 1000 / n:F2} CPU ms/job, silos {siloCpu * 1000 / n:F2}, machine busy {machineShare:P0}");
    throughput.Add(string.Create(culture,
        $"| {n:N0} | {seconds:F1} | **{n / seconds:F0}** | {ms:F0} | {cluster.Silos.Max(s => Measure.PeakMemoryMb(s.Pid)):F0} | {size / (1024.0 * 1024):F0} | " +
        $"{databaseCpu * 1000 / n:F2} | {siloCpu * 1000 / n:F2} | {machineShare:P0} |"));
}

// 3. Heartbeats: 200 simulated workers (device cuda:0, so the real CPU silos never take their jobs), 2 leased jobs each,
//    heartbeating every 2 s; the database's and the silos' CPU share meanwhile.
var workers = quick ? 20 : 200;
var heartbeatSeconds = quick ? 6 : 60;
await Say($"heartbeats: {workers} simulated workers for {heartbeatSeconds} s");
await api.SubmitAsync("{\"run_id\": \"beat\", \"kind\": \"noop\", \"parameters\": {\"jobs\": " + (workers * 2).ToString(culture) + ", \"device\": \"cuda\", \"duration_ms\": 3600000}}");
var simulated = Enumerable.Range(1, workers).Select(i => new WorkerRegistration($"sim-{i:000}@bench/1", "bench", "cuda:0", 2, 1024)).ToList();
var held = new Dictionary<string, IReadOnlyList<JobLease>>();
foreach (var worker in simulated)
{
    held[worker.WorkerId] = await queue.LeaseAsync(worker, 2);
}
var heartbeatLatencies = new List<double>();
var databasePids = await cluster.DatabaseProcessesAsync();
var siloPids = cluster.Silos.Select(s => s.Pid ?? 0).ToList();
var (dbCpu0, siloCpu0, wall) = (Measure.CpuSeconds(databasePids), Measure.CpuSeconds(siloPids), Stopwatch.StartNew());
await Task.WhenAll(simulated.Select(async (worker, index) =>
{
    await Task.Delay(TimeSpan.FromMilliseconds(2000.0 * index / simulated.Count)); // spread over the interval
    while (wall.Elapsed < TimeSpan.FromSeconds(heartbeatSeconds))
    {
        var reports = held[worker.WorkerId].Select(l => new JobProgressReport(l.JobId, l.Attempt, 0, 1, 0, 0, 0.5)).ToList();
        var beat = Stopwatch.StartNew();
        await queue.HeartbeatAsync(worker, reports);
        lock (heartbeatLatencies)
        {
            heartbeatLatencies.Add(beat.Elapsed.TotalMilliseconds);
        }
        await Task.Delay(TimeSpan.FromSeconds(2) - beat.Elapsed is var rest && rest > TimeSpan.Zero ? rest : TimeSpan.Zero);
    }
}));
var cores = Environment.ProcessorCount;
var dbShare = (Measure.CpuSeconds(await cluster.DatabaseProcessesAsync()) - dbCpu0) / wall.Elapsed.TotalSeconds / cores;
var siloShare = (Measure.CpuSeconds(siloPids) - siloCpu0) / wall.Elapsed.TotalSeconds / cores;
await api.PostAsync("api/runs/beat/cancel");

// 4. Metrics ingestion: 8 concurrent jobs writing batches of 5,000 points, fenced as a worker's writes are.
var ingestSeconds = quick ? 3 : 20;
await Say($"ingestion: 8 writers for {ingestSeconds} s");
await api.SubmitAsync("""{"run_id": "ingest", "kind": "noop", "parameters": {"jobs": 8, "device": "cuda", "duration_ms": 3600000}}""");
var ingestWorker = new WorkerRegistration("ingest@bench/1", "bench", "cuda:0", 8, 1024);
var writers = await queue.LeaseAsync(ingestWorker, 8);
var points = 0L;
var ingestClock = Stopwatch.StartNew();
await Task.WhenAll(writers.Select(async lease =>
{
    var step = 0L;
    while (ingestClock.Elapsed < TimeSpan.FromSeconds(ingestSeconds))
    {
        var batch = Enumerable.Range(0, 5000).Select(_ => new MetricSample("train_loss", 1, ++step, 1.0 / step)).ToArray();
        await metrics.WriteAsync(lease.JobId, lease.Attempt, batch);
        Interlocked.Add(ref points, batch.Length);
    }
}));
var ingestElapsed = ingestClock.Elapsed;
var pointsPerSecond = points / ingestElapsed.TotalSeconds;
await api.PostAsync("api/runs/ingest/cancel");

// 5. The API on a long history: the throughput runs' jobs plus 10M metric points on 100 of them (loaded directly).
var history = sizes[^1];
var bigRun = $"tput-{history}";
var pointsPerJob = quick ? 1_000 : 100_000;
await Say($"history: loading {100 * pointsPerJob:N0} metric points");
var seeded = new List<string>();
await using (var command = db.CreateCommand("select job_id from jobs where run_id = @run order by job_id limit 100"))
{
    command.Parameters.AddWithValue("run", bigRun);
    await using var reader = await command.ExecuteReaderAsync();
    while (await reader.ReadAsync())
    {
        seeded.Add(reader.GetString(0));
    }
}
await using (var connection = await db.OpenConnectionAsync())
{
    foreach (var seededJob in seeded)
    {
        // One COPY per job: each statement's points are rolled up into metric_blocks by its trigger at the end.
        await using var writer = await connection.BeginBinaryImportAsync("copy metrics (job_id, attempt, epoch, step, name, value) from stdin (format binary)");
        for (long step = 1; step <= pointsPerJob; step++)
        {
            await writer.StartRowAsync();
            await writer.WriteAsync(seededJob, NpgsqlDbType.Text);
            await writer.WriteAsync(1, NpgsqlDbType.Integer);
            await writer.WriteAsync((int)(step / 1000) + 1, NpgsqlDbType.Integer);
            await writer.WriteAsync(step, NpgsqlDbType.Bigint);
            await writer.WriteAsync("seeded_loss", NpgsqlDbType.Text);
            await writer.WriteAsync(1.0 / step, NpgsqlDbType.Double);
        }
        await writer.CompleteAsync();
    }
}
// Vacuumed as an operator would after a bulk load, so autovacuum of the loaded points (and of the throughput runs' dead
// job rows) does not run during the API timings.
await Say("history: vacuum (analyze)");
await using (var vacuum = db.CreateCommand("vacuum (analyze)"))
{
    vacuum.CommandTimeout = 0;
    await vacuum.ExecuteNonQueryAsync();
}
var totals = (Jobs: await CountAsync("select count(*) + 0 * length(@run) from jobs", ""), Points: await CountAsync("select count(*) + 0 * length(@run) from metrics", ""));
await Say($"history: {totals.Jobs:N0} jobs, {totals.Points:N0} metric points; timing the API");
var job = seeded[0];
var routes = new (string Name, string Path)[]
{
    ("cluster view", "api/cluster"),
    ("runs, first page", "api/runs?limit=50"),
    ("runs, next page", "api/runs?limit=50&after=lat-100"),
    ($"a {history:N0}-job run (summary + 500 jobs)", $"api/runs/{bigRun}"),
    ($"its jobs, a page from the middle", $"api/runs/{bigRun}/jobs?limit=500&after={bigRun}.{history / 2:D6}"),
    ("a job (detail + timeline)", $"api/jobs/{job}"),
    ($"its {pointsPerJob:N0} points downsampled to 500", $"api/jobs/{job}/metrics?points=500"),
    ("its newest points (a dashboard refresh)", $"api/jobs/{job}/metrics?after_step={pointsPerJob - 200}"),
    ("a page of 10,000 points", $"api/jobs/{job}/metrics?after_step={pointsPerJob / 2}&limit=10000"),
    ("results of the run", $"api/runs/lat-001/results"),
};
var requests = quick ? 10 : 100;
var apiRows = new List<string>();
foreach (var (name, path) in routes)
{
    await api.GetAsync(path); // warm
    var times = new List<double>();
    for (var i = 0; i < requests; i++)
    {
        var (status, ms) = await api.GetAsync(path);
        if (status != 200)
        {
            throw new InvalidOperationException($"{path}: {status}");
        }
        times.Add(ms);
    }
    apiRows.Add($"| {name} | `GET /{path}` | {Measure.Ms(Measure.Percentile(times, 50))} | **{Measure.Ms(Measure.Percentile(times, 99))}** |");
}

Console.WriteLine("| submit → Running, free slot | value |");
Console.WriteLine("| --- | --- |");
Console.WriteLine($"| runs measured | {latencies.Count} (one job each, submitted one at a time) |");
Console.WriteLine($"| p50 | {Measure.Ms(Measure.Percentile(latencies, 50))} ms |");
Console.WriteLine($"| p99 | **{Measure.Ms(Measure.Percentile(latencies, 99))} ms** |");
Console.WriteLine($"| max | {Measure.Ms(latencies.DefaultIfEmpty(double.NaN).Max())} ms |");
Console.WriteLine($"| the submit request itself (HTTP, p50 / p99) | {Measure.Ms(Measure.Percentile(posts, 50))} / {Measure.Ms(Measure.Percentile(posts, 99))} ms |");
Console.WriteLine();
Console.WriteLine("| noop jobs in one run | seconds, submit to last success | jobs/s | submit request (ms) | peak silo memory (MiB) | database size (MiB) | PostgreSQL CPU ms per job | silos' CPU ms per job | machine busy |");
Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
throughput.ForEach(Console.WriteLine);
Console.WriteLine();
Console.WriteLine("| load | value |");
Console.WriteLine("| --- | --- |");
Console.WriteLine($"| simulated workers heartbeating every 2 s | {workers} ({heartbeatLatencies.Count / (double)heartbeatSeconds:F0} heartbeats/s, {workers * 2} leases renewed) |");
Console.WriteLine($"| heartbeat statement p50 / p99 | {Measure.Ms(Measure.Percentile(heartbeatLatencies, 50))} / {Measure.Ms(Measure.Percentile(heartbeatLatencies, 99))} ms |");
Console.WriteLine(string.Create(culture, $"| PostgreSQL CPU meanwhile | {dbShare:P1} of {cores} cores |"));
Console.WriteLine(string.Create(culture, $"| both silos' CPU meanwhile (lease keepers, idle workers) | {siloShare:P1} of {cores} cores |"));
Console.WriteLine(string.Create(culture, $"| metrics ingestion, 8 concurrent jobs, batches of 5,000 | **{pointsPerSecond:N0} points/s** ({points:N0} in {ingestElapsed.TotalSeconds:F0} s) |"));
Console.WriteLine(string.Create(culture, $"| submit of one 10,000-job run (HTTP request) | **{submitTenThousand:F0} ms** |"));
Console.WriteLine();
Console.WriteLine($"API on a history of {totals.Jobs:N0} jobs and {totals.Points:N0} metric points ({requests} requests each, after one warm-up):");
Console.WriteLine();
Console.WriteLine("| route | request | p50 (ms) | p99 (ms) |");
Console.WriteLine("| --- | --- | --- | --- |");
apiRows.ForEach(Console.WriteLine);
await Say("done");
return 0;
