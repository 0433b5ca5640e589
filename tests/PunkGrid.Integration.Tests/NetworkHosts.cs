using System.Diagnostics;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// Hosts on one machine, made by <c>infra/hosts.sh</c>: network namespaces joined by a bridge, each with its own address.
/// Removed on dispose (every process inside killed first); a harness whose test process died is removed by the next one.
/// </summary>
public sealed class NetworkHosts : IAsyncDisposable
{
    private static int made;
    private static readonly Lazy<string?> Unavailable = new(() =>
    {
        var (code, output) = RunScriptAsync(TimeSpan.FromSeconds(30), "check").GetAwaiter().GetResult();
        return code == 0 ? null : $"hosts cannot be made here: {output.Trim()}";
    });

    private NetworkHosts(string name, IReadOnlyDictionary<string, string> addresses) => (Name, Addresses) = (name, addresses);

    public static string Script => Path.Combine(PostgresServer.RepositoryRoot, "infra", "hosts.sh");

    /// <summary>Why hosts cannot be made on this machine (not root, no <c>ip</c> or <c>nft</c>, namespaces refused), or null.</summary>
    public static string? WhyUnavailable => Unavailable.Value;

    public string Name { get; }

    /// <summary>Each host's address on the bridge.</summary>
    public IReadOnlyDictionary<string, string> Addresses { get; }

    public static async Task<NetworkHosts> UpAsync(params string[] hosts)
    {
        var name = $"t{Environment.ProcessId % 100_000}{Interlocked.Increment(ref made)}";
        var (code, output) = await RunScriptAsync(TimeSpan.FromMinutes(1), ["up", "--owner", Environment.ProcessId.ToString(), name, .. hosts]);
        if (code != 0)
        {
            throw new InvalidOperationException($"hosts.sh up {name} failed ({code}): {output}");
        }
        var addresses = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split(' '))
            .Where(parts => parts.Length == 2 && hosts.Contains(parts[0]))
            .ToDictionary(parts => parts[0], parts => parts[1]);
        return new NetworkHosts(name, addresses);
    }

    /// <summary>Runs <paramref name="command"/> inside <paramref name="host"/>'s namespace and waits for it (at most <paramref name="timeout"/>).</summary>
    public Task<(int Code, string Output)> RunAsync(string host, TimeSpan timeout, params string[] command) =>
        RunScriptAsync(timeout, ["exec", Name, host, .. command]);

    /// <summary>Drops every packet between <paramref name="host"/> and each of <paramref name="peers"/> (all other hosts when none), both ways.</summary>
    public Task CutAsync(string host, params string[] peers) => CheckedAsync(["cut", Name, host, .. peers]);

    public Task HealAsync(string host, params string[] peers) => CheckedAsync(["heal", Name, host, .. peers]);

    public async ValueTask DisposeAsync() => await CheckedAsync(["down", Name]);

    /// <summary>The namespaces of this harness that exist now.</summary>
    public static async Task<IReadOnlyList<string>> NamespacesAsync(string name)
    {
        var (_, output) = await RunProcessAsync(TimeSpan.FromSeconds(30), "ip", ["netns", "list"]);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ')[0])
            .Where(ns => ns.StartsWith(name + "-", StringComparison.Ordinal))
            .ToList();
    }

    private static async Task CheckedAsync(string[] arguments)
    {
        var (code, output) = await RunScriptAsync(TimeSpan.FromMinutes(1), arguments);
        if (code != 0)
        {
            throw new InvalidOperationException($"hosts.sh {string.Join(' ', arguments)} failed ({code}): {output}");
        }
    }

    public static Task<(int Code, string Output)> RunScriptAsync(TimeSpan timeout, params string[] arguments) =>
        RunProcessAsync(timeout, "bash", [Script, .. arguments]);

    /// <summary>Runs <paramref name="file"/> and waits for it (killed after <paramref name="timeout"/>): its exit code and its output and error.</summary>
    public static async Task<(int Code, string Output)> RunProcessAsync(TimeSpan timeout, string file, string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{file} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} took longer than {timeout.TotalSeconds} s");
        }
        return (process.ExitCode, await stdout + await stderr);
    }
}

/// <summary>A fact that needs <see cref="NetworkHosts"/>: skipped, with the reason, where they cannot be made.</summary>
public sealed class HostsFactAttribute : FactAttribute
{
    public HostsFactAttribute()
    {
        if (NetworkHosts.WhyUnavailable is { } why)
        {
            Skip = why;
        }
    }
}
