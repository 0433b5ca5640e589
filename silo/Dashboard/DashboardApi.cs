using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using PunkGrid.Contracts;

namespace PunkGrid.Silo.Dashboard;

/// <summary>
/// The JSON API under <c>/api/</c> that the dashboard page (and external dashboards) use. It talks to the cluster only
/// through the contracts' grains. Reads are open; requests that change something (submit, cancel, retry, schedules)
/// need <c>Authorization: Bearer TOKEN</c> when a token is configured. Errors are <c>{"error": "…"}</c> with 400
/// (bad body or value), 401 (missing or bad token), 404 (unknown id) or 409 (not possible in the current state).
/// </summary>
public static class DashboardApi
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter() },
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // 'Wings', not \u0027Wings\u0027
    };

    /// <summary>Body of <c>POST /api/runs</c>.</summary>
    public sealed record SubmitRunRequest(string? RunId, string? Kind, IReadOnlyList<string>? Targets, bool All, string? Profile,
        IReadOnlyDictionary<string, string>? Parameters, int Priority)
    {
        public RunSpec ToSpec() => new(
            Kind ?? throw new ArgumentException($"'kind' is required: one of {string.Join(", ", JobKinds.All)}"),
            Targets ?? [], All, Profile ?? JobSpec.DefaultProfile,
            JobParameters.Normalize(Parameters ?? new Dictionary<string, string>()), Priority);
    }

    /// <summary>Body of <c>POST /api/schedules</c>.</summary>
    public sealed record AddScheduleRequest(string? Name, string? Cron, string? TimeZone, SubmitRunRequest? Run);

    private sealed class BadRequestException(string message) : Exception(message);

    public static void MapPunkGridApi(this WebApplication app, DashboardSettings settings)
    {
        app.Use(async (context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/api") && !HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method)
                && settings.Token is { } token && !HasToken(context.Request, token))
            {
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await Error(StatusCodes.Status401Unauthorized, "this request changes the cluster: send 'Authorization: Bearer TOKEN' with the configured token").ExecuteAsync(context);
                return;
            }
            try
            {
                await next(context);
            }
            catch (BadRequestException ex)
            {
                await Error(StatusCodes.Status400BadRequest, ex.Message).ExecuteAsync(context);
            }
            catch (Exception ex) when (ex is TimeoutException or Orleans.Runtime.OrleansException && !context.Response.HasStarted)
            {
                await Error(StatusCodes.Status503ServiceUnavailable, $"the cluster did not answer: {ex.Message}").ExecuteAsync(context);
            }
        });

        var api = app.MapGroup("/api");
        api.MapGet("/cluster", async (IGrainFactory grains) => Ok(new
        {
            workers = await grains.GetGrain<ICatalogGrain>(0).ListWorkers(),
            queue_depth = await grains.GetGrain<ICatalogGrain>(0).GetQueueDepth(),
            now = DateTimeOffset.UtcNow,
        }));
        api.MapGet("/runs", async (IGrainFactory grains, int? limit) =>
            Ok((await grains.GetGrain<ICatalogGrain>(0).ListRuns(Math.Clamp(limit ?? 50, 1, 1000))).Select(RunJson)));
        api.MapGet("/runs/{id}", async (IGrainFactory grains, string id) =>
        {
            var run = grains.GetGrain<IRunGrain>(id);
            return await run.GetSummary() is { } summary
                ? Ok(new { summary = RunJson(summary), jobs = await run.GetJobs() })
                : Error(StatusCodes.Status404NotFound, $"unknown run '{id}'");
        });
        api.MapGet("/runs/{id}/results", async (IGrainFactory grains, string id) =>
        {
            var run = grains.GetGrain<IRunGrain>(id);
            return await run.GetSummary() is null ? Error(StatusCodes.Status404NotFound, $"unknown run '{id}'") : Ok(await run.GetResults());
        });
        api.MapPost("/runs", async (IGrainFactory grains, HttpRequest request) =>
        {
            var body = await ReadBody<SubmitRunRequest>(request);
            var id = body.RunId ?? $"{body.Kind}-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Random.Shared.Next(0x10000):x4}";
            RunSpec spec;
            try
            {
                spec = body.ToSpec();
            }
            catch (ArgumentException ex)
            {
                throw new BadRequestException(ex.Message);
            }
            var result = await grains.GetGrain<IRunGrain>(id).Submit(spec);
            return result.Error is { } error ? Error(StatusCodes.Status400BadRequest, error)
                : Results.Json(result, Json, statusCode: result.Created ? StatusCodes.Status201Created : StatusCodes.Status200OK);
        });
        api.MapPost("/runs/{id}/cancel", async (IGrainFactory grains, string id) => Command(await grains.GetGrain<IRunGrain>(id).Cancel()));
        api.MapGet("/jobs/{id}", async (IGrainFactory grains, string id) =>
            await grains.GetGrain<IJobGrain>(id).GetDetail() is { } detail ? Ok(detail) : Error(StatusCodes.Status404NotFound, $"unknown job '{id}'"));
        api.MapGet("/jobs/{id}/metrics", async (IGrainFactory grains, string id, string? name) =>
        {
            var job = grains.GetGrain<IJobGrain>(id);
            return await job.GetDetail() is null ? Error(StatusCodes.Status404NotFound, $"unknown job '{id}'") : Ok(await job.GetMetrics(name));
        });
        api.MapGet("/jobs/{id}/artifacts", async (IGrainFactory grains, string id) =>
        {
            var job = grains.GetGrain<IJobGrain>(id);
            return await job.GetDetail() is null ? Error(StatusCodes.Status404NotFound, $"unknown job '{id}'") : Ok(await job.GetArtifacts());
        });
        api.MapGet("/jobs/{id}/artifacts/{name}", async (IGrainFactory grains, string id, string name) =>
            await grains.GetGrain<IJobGrain>(id).GetArtifact(name) is { } artifact
                ? Results.Bytes(artifact.Content, artifact.Info.ContentType)
                : Error(StatusCodes.Status404NotFound, $"job '{id}' has no artifact '{name}'"));
        api.MapPost("/jobs/{id}/cancel", async (IGrainFactory grains, string id) => Command(await grains.GetGrain<IJobGrain>(id).Cancel("cancelled from the API")));
        api.MapPost("/jobs/{id}/retry", async (IGrainFactory grains, string id) => Command(await grains.GetGrain<IJobGrain>(id).Retry()));

        api.MapGet("/schedules", async (IGrainFactory grains) => Ok(await grains.GetGrain<IScheduleCatalogGrain>(0).List()));
        api.MapGet("/schedules/{name}", async (IGrainFactory grains, string name) =>
            await grains.GetGrain<IScheduleGrain>(name).Get() is { } view ? Ok(view) : Error(StatusCodes.Status404NotFound, $"unknown schedule '{name}'"));
        api.MapPost("/schedules", async (IGrainFactory grains, HttpRequest request) =>
        {
            var body = await ReadBody<AddScheduleRequest>(request);
            if (string.IsNullOrWhiteSpace(body.Name) || string.IsNullOrWhiteSpace(body.Cron) || body.Run is null)
            {
                throw new BadRequestException("'name', 'cron' and 'run' are required, e.g. {\"name\":\"nightly\",\"cron\":\"0 3 * * *\",\"run\":{\"kind\":\"trait\",\"all\":true}}");
            }
            RunSpec spec;
            try
            {
                spec = body.Run.ToSpec();
            }
            catch (ArgumentException ex)
            {
                throw new BadRequestException(ex.Message);
            }
            var result = await grains.GetGrain<IScheduleGrain>(body.Name.Trim()).Add(new ScheduleSpec(body.Cron, body.TimeZone ?? "UTC", spec));
            return result.Ok ? Results.Json(result, Json, statusCode: StatusCodes.Status201Created) : Error(StatusCodes.Status400BadRequest, result.Message);
        });
        api.MapPost("/schedules/{name}/pause", async (IGrainFactory grains, string name) => Command(await grains.GetGrain<IScheduleGrain>(name).SetPaused(true)));
        api.MapPost("/schedules/{name}/resume", async (IGrainFactory grains, string name) => Command(await grains.GetGrain<IScheduleGrain>(name).SetPaused(false)));
        api.MapDelete("/schedules/{name}", async (IGrainFactory grains, string name) => Command(await grains.GetGrain<IScheduleGrain>(name).Remove()));
        api.MapFallback((HttpContext context) => Error(StatusCodes.Status404NotFound, $"no API endpoint {context.Request.Method} {context.Request.Path}"));
    }

    private static object RunJson(RunSummary run) => new
    {
        run.RunId,
        run.Kind,
        run.Profile,
        run.Priority,
        run.CreatedAt,
        run.Total,
        run.Queued,
        run.Running,
        run.Succeeded,
        run.Failed,
        run.Cancelled,
        run.Progress,
        run.State,
        run.Finished,
    };

    private static IResult Ok(object? value) => Results.Json(value, Json);

    private static IResult Error(int status, string message) => Results.Json(new { error = message }, Json, statusCode: status);

    private static IResult Command(CommandResult result) =>
        result.Ok ? Ok(result) : Error(result.NotFound ? StatusCodes.Status404NotFound : StatusCodes.Status409Conflict, result.Message);

    private static async Task<T> ReadBody<T>(HttpRequest request)
    {
        try
        {
            return await JsonSerializer.DeserializeAsync<T>(request.Body, Json)
                ?? throw new BadRequestException("the request body is empty; expected a JSON object");
        }
        catch (JsonException ex)
        {
            throw new BadRequestException($"the request body is not the expected JSON: {ex.Message}");
        }
    }

    private static bool HasToken(HttpRequest request, string token)
    {
        var header = request.Headers.Authorization.ToString();
        const string prefix = "Bearer ";
        if (!header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        var given = Encoding.UTF8.GetBytes(header[prefix.Length..].Trim());
        var expected = Encoding.UTF8.GetBytes(token);
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(given), SHA256.HashData(expected));
    }
}
