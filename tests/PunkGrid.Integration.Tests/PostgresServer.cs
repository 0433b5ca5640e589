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

    public string AdminConnectionString { get; private set; } = "";

    public string How { get; private set; } = "";

    public static string RepositoryRoot { get; } = Path.GetFullPath(Metadata("RepositoryRoot"));

    public static string Metadata(string key) =>
        typeof(PostgresServer).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    public async Task InitializeAsync()
    {
        var given = Environment.GetEnvironmentVariable("PUNKGRID_TEST_PG");
        if (!string.IsNullOrWhiteSpace(given))
        {
            (AdminConnectionString, How) = (given, "PUNKGRID_TEST_PG");
            return;
        }
        try
        {
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
        var (exit, output) = await RunAsync(Path.Combine(RepositoryRoot, "infra", "local-postgres.sh"), "start", localFolder, "postgres");
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

    public async Task DisposeAsync()
    {
        if (container is not null)
        {
            await container.DisposeAsync();
        }
        if (localFolder is not null)
        {
            await RunAsync(Path.Combine(RepositoryRoot, "infra", "local-postgres.sh"), "stop", localFolder);
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
