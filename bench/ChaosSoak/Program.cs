using System.Diagnostics;
using System.Globalization;
using PunkGrid.Bench.ChaosSoak;
using PunkGrid.Bench.Shared;
using PunkGrid.Tests.Shared;

// The chaos soak: noop sweeps on a local cluster for --minutes while random faults are injected every --fault-every
// seconds (on average); then the faults stop, the cluster heals, every job must finish within --drain-minutes, and the
// invariant checker of the fault tests judges the database. Prints a Markdown report (docs/RELIABILITY.md).
// Exit 0 when nothing was lost and every invariant held, 1 otherwise. `--scenario issue12 --silos 2 --lease-seconds 20` runs
// issue 12's scenario with real trait jobs instead (IssueScenario.cs).
var settings = args.Select((a, i) => (a, i)).Where(p => p.a.StartsWith("--", StringComparison.Ordinal))
    .ToDictionary(p => p.a[2..], p => p.i + 1 < args.Length ? args[p.i + 1] : "");
double Setting(string key, double fallback) => settings.TryGetValue(key, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
var minutes = Setting("minutes", 30);
var siloCount = (int)Setting("silos", 3);
var slots = (int)Setting("slots", 2);
var faultEvery = TimeSpan.FromSeconds(Setting("fault-every", 45));
var drain = TimeSpan.FromMinutes(Setting("drain-minutes", 10));
var seed = (int)Setting("seed", 1);
var lease = TimeSpan.FromSeconds(Setting("lease-seconds", 10));
var repository = Path.GetFullPath(settings.GetValueOrDefault("repository") ?? Directory.GetCurrentDirectory());
var siloDll = settings.GetValueOrDefault("silo-dll") ?? Environment.GetEnvironmentVariable("PUNKGRID_SILO_DLL")
    ?? Path.Combine(repository, "silo", "bin", "Release", "net10.0", "PunkGrid.Silo.dll");
const string Token = "chaos-soak-token-0123456789";

var log = Console.Error;
var random = new Random(seed);
var clock = Stopwatch.StartNew();
// --hosts NAME: an infra/hosts.sh harness (db, db2, s1…sN, and the host this program runs in: bench/chaos-soak.sh --hosts).
var hosts = settings.GetValueOrDefault("hosts");
await using var cluster = new LocalCluster(repository, siloDll, siloCount, slots, lease, Token, hostsHarness: hosts);
await log.WriteLineAsync($"soak: starting PostgreSQL and {siloCount} silos ({slots} slots each, lease {lease.TotalSeconds:0}s), {minutes} min, seed {seed}");
await cluster.StartAsync();
if (settings.GetValueOrDefault("scenario") == "issue12")
{
    // Not the soak: the one scenario of issue 12, with real trait jobs (see IssueScenario).
    return await IssueScenario.RunAsync(cluster, Token, log);
}
using var workload = new Workload(cluster, random, Token, siloCount * slots, log);
var faults = new FaultInjector(cluster, workload, random, log);

var end = DateTime.UtcNow.AddMinutes(minutes);
var nextFault = DateTime.UtcNow + TimeSpan.FromSeconds(faultEvery.TotalSeconds * (0.5 + random.NextDouble()));
while (DateTime.UtcNow < end)
{
    await SuperviseAsync();
    await workload.TopUpAsync(CancellationToken.None);
    if (DateTime.UtcNow >= nextFault)
    {
        try
        {
            await faults.InjectAsync(faults.Draw(), CancellationToken.None);
        }
        catch (Exception ex)
        {
            await log.WriteLineAsync($"fault injection itself failed: {ex.Message}");
        }
        nextFault = DateTime.UtcNow + TimeSpan.FromSeconds(faultEvery.TotalSeconds * (0.5 + random.NextDouble()));
    }
    await Task.Delay(TimeSpan.FromSeconds(2));
}

await log.WriteLineAsync($"{DateTime.UtcNow:HH:mm:ss} soak: faults stop; healing and draining (bound {drain.TotalMinutes:0} min)");
await faults.HealAsync();
var drained = Stopwatch.StartNew();
var unfinished = -1L;
while (drained.Elapsed < drain)
{
    await SuperviseAsync(); // a poison job leased in the drain still kills its worker, which comes back as before
    try
    {
        await using var command = cluster.Database.CreateCommand("select count(*) from jobs where state in ('Queued', 'Running')");
        unfinished = (long)(await command.ExecuteScalarAsync())!;
        if (unfinished == 0)
        {
            break;
        }
    }
    catch (Npgsql.NpgsqlException)
    {
    }
    await Task.Delay(TimeSpan.FromSeconds(2));
}
var report = await ClusterInvariants.CheckAsync(cluster.Database);
var poison = await ClusterInvariants.CheckAsync(cluster.Database, [.. workload.PoisonRuns, "__none__"]);
var lost = report.Jobs - report.ByState.GetValueOrDefault("Succeeded") - poison.Quarantined;
await log.WriteLineAsync(report.ToString());

var culture = CultureInfo.InvariantCulture;
Console.WriteLine(string.Create(culture, $"""
| what | value |
| --- | --- |
| soak length | {minutes:0} min of faults, then {drained.Elapsed.TotalSeconds:0} s until every job was terminal (bound {drain.TotalMinutes:0} min) |
| cluster | {siloCount} silos × {slots} slots, lease timeout {lease.TotalSeconds:0} s, {(hosts is null ? "PostgreSQL 15 local (fsync on)" : "on hosts of their own (network namespaces), PostgreSQL 15 primary + synchronous standby (fsync on)")}, seed {seed} |
| faults injected | {faults.Injected.Values.Sum()}: {string.Join(", ", faults.Injected.Where(f => f.Value > 0).Select(f => $"{f.Key} {f.Value}"))} |
| jobs submitted | {report.Jobs} ({workload.Runs.Count} noop runs of 10 jobs, {workload.PoisonRuns.Count} poison jobs) |
| jobs Succeeded | {report.ByState.GetValueOrDefault("Succeeded")} |
| poison jobs quarantined | {poison.Quarantined} of {workload.PoisonRuns.Count} |
| **jobs lost** (not Succeeded, poison aside) | **{lost}** |
| attempts spent on infrastructure (lost leases) | {report.LostLeases} (of {report.AttemptsPastFirst} attempts past the first) |
| trainer failures counted | {report.Failures} |
| highest attempt of a job | {report.MaxAttempt} |
| invariant checker | {(report.Holds ? "every invariant holds" : $"{report.Violations.Count} violation(s)")} |
"""));
if (!report.Holds)
{
    Console.WriteLine();
    Console.WriteLine("Violations:");
    foreach (var violation in report.Violations.Take(50))
    {
        Console.WriteLine($"- {violation}");
    }
}
if (lost > 0)
{
    // What happened to each lost job, event by event, so that the loss can be explained.
    Console.WriteLine();
    Console.WriteLine("Lost jobs, their events (at, attempt, from → to, worker, detail):");
    await using var command = cluster.Database.CreateCommand(
        "select e.job_id, to_char(e.at, 'HH24:MI:SS.MS'), e.attempt, coalesce(e.from_state, ''), e.to_state, coalesce(e.worker_id, ''), coalesce(e.detail, '') " +
        "from job_events e join jobs j on j.job_id = e.job_id where j.state <> 'Succeeded' and not (j.run_id = any(@poison)) order by e.job_id, e.id");
    command.Parameters.AddWithValue("poison", workload.PoisonRuns.ToArray());
    await using var reader = await command.ExecuteReaderAsync();
    while (await reader.ReadAsync())
    {
        Console.WriteLine($"- {reader.GetString(0)} {reader.GetString(1)} #{reader.GetInt32(2)} {reader.GetString(3)} → {reader.GetString(4)} {reader.GetString(5)} {reader.GetString(6)}");
    }
}
await log.WriteLineAsync($"soak: done in {clock.Elapsed.TotalMinutes:F1} min");
return report.Holds && lost == 0 ? 0 : 1;

// The supervisor, in the soak and in the drain: a silo that died (a poison job killed it) comes back on its address.
async Task SuperviseAsync()
{
    foreach (var silo in cluster.Silos.Where(s => !s.Alive))
    {
        await log.WriteLineAsync($"{DateTime.UtcNow:HH:mm:ss} supervisor: restarting {silo.Name}");
        await cluster.RestartAsync(silo);
    }
}
