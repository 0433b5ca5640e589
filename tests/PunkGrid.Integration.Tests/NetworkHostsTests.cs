namespace PunkGrid.Integration.Tests;

/// <summary>The hosts harness itself (issue 29): real addresses, a black-holed link, nothing left behind.</summary>
public class NetworkHostsTests
{
    private static readonly TimeSpan Command = TimeSpan.FromSeconds(30);

    [HostsFact]
    public async Task Hosts_reach_each_other_by_address_until_cut_and_leave_nothing_behind()
    {
        var folder = Directory.CreateTempSubdirectory("punkgrid-hosts-pg-").FullName;
        string name;
        await using (var hosts = await NetworkHosts.UpAsync("db", "s1", "s2"))
        {
            name = hosts.Name;
            Assert.Equal(3, hosts.Addresses.Values.Distinct().Count());
            var (db, s1) = (hosts.Addresses["db"], hosts.Addresses["s1"]);
            var (code, started) = await hosts.RunAsync("db", TimeSpan.FromMinutes(2),
                Path.Combine(PostgresServer.RepositoryRoot, "infra", "local-postgres.sh"), "start", folder, "--no-fsync", "--listen", db);
            Assert.True(code == 0, started);
            Assert.StartsWith($"Host={db};", started.Trim());
            var password = await File.ReadAllTextAsync(Path.Combine(folder, "password"));
            var port = (await File.ReadAllTextAsync(Path.Combine(folder, "port"))).Trim();

            Task<(int Code, string Output)> Query(string host, string sql) => hosts.RunAsync(host, Command,
                "env", $"PGPASSWORD={password}", "PGCONNECT_TIMEOUT=2", "psql", "-h", db, "-p", port, "-U", "postgres", "-d", "punkgrid", "-tAc", sql);

            // Over the bridge, not loopback: the server sees the client's own address.
            var seen = await Query("s1", "select host(inet_server_addr()) || ' ' || host(inet_client_addr())");
            Assert.True(seen.Code == 0, seen.Output);
            Assert.Equal($"{db} {s1}", seen.Output.Trim());

            await hosts.CutAsync("s1", "db");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var cut = await Query("s1", "select 1");
            Assert.NotEqual(0, cut.Code);
            Assert.Contains("timeout expired", cut.Output); // a black hole: no answer at all, not a refusal
            Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.5), $"the cut link answered after {clock.Elapsed.TotalSeconds:F1} s");
            var other = await Query("s2", "select 2");
            Assert.True(other.Code == 0 && other.Output.Trim() == "2", other.Output);

            await hosts.HealAsync("s1");
            var healed = await Query("s1", "select 3");
            Assert.True(healed.Code == 0 && healed.Output.Trim() == "3", healed.Output);
        }

        Assert.Empty(await NetworkHosts.NamespacesAsync(name));
        Assert.False(File.Exists(Path.Combine(folder, "data", "postmaster.pid")) && PostmasterAlive(folder), "the server inside the db host outlived the harness");
        Directory.Delete(folder, recursive: true);
    }

    [HostsFact]
    public async Task A_harness_whose_owner_died_is_removed_by_the_next_one()
    {
        var orphan = $"o{Environment.ProcessId % 100_000}";
        var (code, output) = await NetworkHosts.RunScriptAsync(Command, "up", "--owner", "999999999", orphan, "a", "b");
        Assert.True(code == 0, output);
        Assert.Equal(3, (await NetworkHosts.NamespacesAsync(orphan)).Count); // a, b and the switch

        await using (var next = await NetworkHosts.UpAsync("c"))
        {
            Assert.Empty(await NetworkHosts.NamespacesAsync(orphan));
            Assert.Single(next.Addresses);
        }

        var refused = await NetworkHosts.RunScriptAsync(Command, "up", "Bad");
        Assert.Equal(2, refused.Code);
        Assert.Contains("'Bad' is not a valid name", refused.Output);
    }

    private static bool PostmasterAlive(string folder)
    {
        var pid = File.ReadLines(Path.Combine(folder, "data", "postmaster.pid")).FirstOrDefault();
        // A zombie (killed, not yet reaped by its parent: here PID 1, which may be slow to) is not alive.
        if (!int.TryParse(pid, out var id) || !File.Exists($"/proc/{id}/stat"))
        {
            return false;
        }
        var stat = File.ReadAllText($"/proc/{id}/stat");
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0] != "Z"; // the state follows "(command) "

    }
}
