using System.Diagnostics;
using System.Reflection;
using Npgsql;
using Testcontainers.PostgreSql;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// The one PostgreSQL fixture: a Testcontainers container when a Docker engine answers, otherwise a throwaway local
/// server started by <c>infra/local-postgres.sh</c> in a temporary folder (or <c>$PUNKGRID_TEST_PG</c> when set).
/// Each test class gets a database of its own from <see cref="CreateDatabaseAsync"/>.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private PostgreSqlContainer? container;
    private string? localFolder;
    private readonly bool localOnly;

    public PostgresServer()
    {
    }

    private PostgresServer(bool localOnly) => this.localOnly = localOnly;

    /// <summary>Always a local server, never a container: the fault tests stop, restart, pause and resume it.</summary>
    public static PostgresServer LocalOnly() => new(localOnly: true);

    private static string Script => Path.Combine(RepositoryRoot, "infra", "local-postgres.sh");

    public string AdminConnectionString { get; private set; } = "";

    public string How { get; private set; } = "";

    public static string RepositoryRoot { get; } = Path.GetFullPath(Metadata("RepositoryRoot"));

    public static string Metadata(string key) =>
        typeof(PostgresServer).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    public async Task InitializeAsync()
    {
        var given = Environment.GetEnvironmentVariable("PUNKGRID_TEST_PG");
        if (!localOnly && !string.IsNullOrWhiteSpace(given))
        {
            (AdminConnectionString, How) = (given, "PUNKGRID_TEST_PG");
            return;
        }
        try
        {
            if (localOnly)
            {
                throw new InvalidOperationException("a local server was asked for");
            }
            container = new PostgreSqlBuilder("postgres:15-alpine").Build();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            await container.StartAsync(timeout.Token);
            (AdminConnectionString, How) = (container.GetConnectionString(), "Testcontainers");
            return;
        }
        catch (Exception)
        {
            // No Docker engine here: fall back to a local server.
            if (container is not null)
            {
                await container.DisposeAsync();
                container = null;
            }
        }
        localFolder = Path.Combine(Path.GetTempPath(), $"punkgrid-test-pg-{Guid.NewGuid():N}");
        var (exit, output) = await RunAsync(Script, "start", localFolder, "postgres", "--no-fsync");
        if (exit != 0)
        {
            throw new InvalidOperationException($"could not start a local PostgreSQL: {output}");
        }
        (AdminConnectionString, How) = (output.Trim().Split('\n')[^1], "local server");
    }

    /// <summary>A fresh, empty database on the server; returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix)
    {
        var name = $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 33, 63)].ToLowerInvariant();
        // No pooling: a pooled connection could belong to an earlier server on the same port, since stopped.
        await using (var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(AdminConnectionString) { Pooling = false }.ConnectionString))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"create database \"{name}\"", connection);
            await create.ExecuteNonQueryAsync();
        }
        return new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = name }.ConnectionString;
    }

    private string LocalFolder => localFolder ?? throw new InvalidOperationException($"only a local server can be stopped or paused; this one is {How}");

    /// <summary>Stops the local server (<c>pg_ctl stop -m fast</c>): every connection is cut.</summary>
    public async Task StopAsync()
    {
        var (exit, output) = await RunAsync(Script, "stop", LocalFolder);
        Assert.True(exit == 0, output);
    }

    /// <summary>Starts the local server again, on the same port.</summary>
    public async Task StartAsync()
    {
        var (exit, output) = await RunAsync(Script, "start", LocalFolder, "postgres", "--no-fsync");
        Assert.True(exit == 0 && output.Trim().Split('\n')[^1] == AdminConnectionString, output);
    }

    /// <summary>Freezes the local server (SIGSTOP to the postmaster and every backend): connections hang, nothing answers.</summary>
    public async Task PauseAsync() => Signals.Send(await ServerProcessesAsync(), Signals.Stop);

    /// <summary>Thaws a paused server (SIGCONT).</summary>
    public async Task ResumeAsync() => Signals.Send(await ServerProcessesAsync(), Signals.Continue);

    private async Task<IReadOnlyList<int>> ServerProcessesAsync()
    {
        var (exit, output) = await RunAsync(Script, "pid", LocalFolder);
        Assert.True(exit == 0, $"the local server is not running: {output}");
        var postmaster = int.Parse(output.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        return [postmaster, .. Signals.ChildrenOf(postmaster)];
    }

    public async Task DisposeAsync()
    {
        if (container is not null)
        {
            await container.DisposeAsync();
        }
        if (localFolder is not null)
        {
            await RunAsync(Script, "stop", localFolder);
            try
            {
                Directory.Delete(localFolder, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    private static async Task<(int, string)> RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(file);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, (await stdout) + (await stderr));
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    public const string Name = "postgres";
}
