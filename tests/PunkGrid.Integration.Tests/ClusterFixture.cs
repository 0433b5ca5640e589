using Npgsql;
using PunkGrid.Client;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace PunkGrid.Integration.Tests;

/// <summary>A real cluster: its own PostgreSQL database and two silo processes with a worker each (1 slot).</summary>
public class ClusterFixture : IAsyncLifetime
{
    private readonly PostgresServer server = new();

    public string Postgres { get; private set; } = "";

    public List<SiloProcess> Silos { get; } = [];

    public string Gateways => string.Join(',', Silos.Where(s => !s.HasExited).Select(s => s.Gateway));

    public NpgsqlDataSource Database { get; private set; } = null!;

    /// <summary>The bearer token the silos' mutating API endpoints require.</summary>
    public const string ApiToken = "test-token-0123456789";

    /// <summary>An OTLP/HTTP receiver both silos export their traces and metrics to.</summary>
    public OtlpReceiver Otlp { get; } = new();

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Settings every silo of the fixture runs with: the API token, a 1 s schedule tick, fast OTLP export.</summary>
    public Dictionary<string, string> Environment => new()
    {
        ["PUNKGRID__Dashboard__Token"] = ApiToken,
        ["PUNKGRID__Schedules__Tick"] = "00:00:01",
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = Otlp.Endpoint.ToString().TrimEnd('/'),
        ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        ["OTEL_BSP_SCHEDULE_DELAY"] = "500",
        ["OTEL_METRIC_EXPORT_INTERVAL"] = "1000",
        // Webhooks at test speed: a receiver gets 2 s to answer, a claim holds 5 s, retries back off from 0.5 s to 2 s.
        ["PUNKGRID__Webhooks__RequestTimeout"] = "00:00:02",
        ["PUNKGRID__Webhooks__ClaimTimeout"] = "00:00:05",
        ["PUNKGRID__Webhooks__FirstBackoff"] = "00:00:00.5",
        ["PUNKGRID__Webhooks__MaxBackoff"] = "00:00:02",
    };

    public async Task InitializeAsync()
    {
        await server.InitializeAsync();
        Postgres = await server.CreateDatabaseAsync("cluster");
        Database = NpgsqlDataSource.Create(Postgres);
        Silos.Add(await SiloProcess.StartAsync(Postgres, "silo-a", slots: 1, Environment));
        Silos.Add(await SiloProcess.StartAsync(Postgres, "silo-b", slots: 1, Environment));
    }

    public async Task DisposeAsync()
    {
        foreach (var silo in Silos)
        {
            await silo.DisposeAsync();
        }
        await Database.DisposeAsync();
        await server.DisposeAsync();
        Http.Dispose();
        Otlp.Dispose();
    }

    /// <summary>Runs the real CLI in-process against this cluster's gateways.</summary>
    public async Task<(int Exit, string Out, string Error)> Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await PunkGridCommandLine.RunAsync(["--gateway", Gateways, "--tls-dir", TestCertificates.Directory, .. args], stdout, stderr); // before a `--` separator
        return (exit, stdout.ToString(), stderr.ToString());
    }

    public async Task<long> CountAsync(string sql, string jobOrRun)
    {
        await using var command = Database.CreateCommand(sql);
        command.Parameters.AddWithValue("id", jobOrRun);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    public async Task<string> ScalarAsync(string sql, string id)
    {
        await using var command = Database.CreateCommand(sql);
        command.Parameters.AddWithValue("id", id);
        return Convert.ToString(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture) ?? "";
    }

    /// <summary>Polls until <paramref name="condition"/> holds or the time is up (then fails with the silo logs' tails).</summary>
    public Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what) =>
        Polling.UntilAsync(condition, timeout, what, () => string.Join("\n", Silos.Select(s => $"--- {s.Name}:\n{string.Join('\n', File.ReadLines(s.LogPath).TakeLast(30))}")));

    /// <summary>Replaces every killed silo with a fresh one under a new name, so each kill test starts with two workers.</summary>
    public async Task ReplaceExitedSilosAsync()
    {
        foreach (var dead in Silos.Where(s => s.HasExited).ToList())
        {
            await dead.DisposeAsync();
            Silos[Silos.IndexOf(dead)] = await SiloProcess.StartAsync(Postgres, $"{dead.Name}-{Guid.NewGuid().ToString("N")[..4]}", slots: 1, Environment);
        }
    }

    /// <summary>A request to the first live silo's <c>/api/…</c>, with the bearer token unless <paramref name="token"/> says otherwise.</summary>
    public async Task<(int Status, System.Text.Json.JsonElement Body)> ApiAsync(HttpMethod method, string path, string? json = null, string? token = ApiToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(Silos.First(s => !s.HasExited).DashboardUrl, path.TrimStart('/')));
        if (json is not null)
        {
            request.Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        }
        if (token is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }
        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? default : System.Text.Json.JsonDocument.Parse(text).RootElement.Clone());
    }

    public Task<string> StateOfAsync(string jobId) => ScalarAsync("select state from jobs where job_id = @id", jobId);
}

public sealed class KillFixture : ClusterFixture;

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}

[CollectionDefinition(Name)]
public sealed class KillCollection : ICollectionFixture<KillFixture>
{
    public const string Name = "kill";
}
