using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using PunkGrid.Contracts;

namespace PunkGrid.Silo.Dashboard;

/// <summary>
/// The JSON API under <c>/api/</c> that the dashboard page (and external dashboards) use. It talks to the cluster only
/// through the contracts' grains. What guards it (token, JSON-only mutations, Origin and Host checks, JSON errors) is
/// <see cref="ApiSecurity"/>; what it accepts is <see cref="ApiRequests"/>. Listings are paged by cursor: runs
/// (<c>?limit=&amp;after=RUN</c>), a run's jobs (<c>?limit=&amp;after=JOB</c>), metrics (<c>?after_step=&amp;limit=</c>, and
/// <c>?points=N</c> to downsample).
/// </summary>
public static class DashboardApi
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter() },
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // 'Wings', not \u0027Wings\u0027
    };

    private static readonly JsonDocumentOptions BodyOptions = new() { MaxDepth = 16 };

    public static void MapPunkGridApi(this WebApplication app, DashboardSettings settings)
    {
        var api = app.MapGroup("/api");
        api.MapGet("/cluster", async (IGrainFactory grains) => Ok(new
        {
            workers = await grains.GetGrain<ICatalogGrain>(0).ListWorkers(),
            queue_depth = await grains.GetGrain<ICatalogGrain>(0).GetQueueDepth(),
            now = DateTimeOffset.UtcNow,
        }));
        api.MapGet("/runs", async (IGrainFactory grains, HttpRequest request) =>
        {
            var limit = ApiRequests.Count(request.Query["limit"], "limit", 1000) ?? 50;
            var after = request.Query["after"] is { Count: > 0 } cursor ? ApiRequests.Id(cursor, "after") : null;
            var page = await grains.GetGrain<ICatalogGrain>(0).ListRuns(limit, after);
            return Ok(new { runs = page.Items.Select(RunJson), next = page.Next });
        });
        api.MapGet("/runs/{id}", async (IGrainFactory grains, HttpRequest request, string id) =>
        {
            var run = grains.GetGrain<IRunGrain>(ApiRequests.Id(id, "run id"));
            if (await run.GetSummary() is not { } summary)
            {
                return Error(StatusCodes.Status404NotFound, $"unknown run '{id}'");
            }
            var page = await run.GetJobsPage(null, ApiRequests.Count(request.Query["jobs_limit"], "jobs_limit", 1000) ?? 500);
            return Ok(new { summary = RunJson(summary), spec = await run.GetSpec(), jobs = page.Items, next_jobs = page.Next });
        });
        api.MapGet("/runs/{id}/jobs", async (IGrainFactory grains, HttpRequest request, string id) =>
        {
            var run = grains.GetGrain<IRunGrain>(ApiRequests.Id(id, "run id"));
            if (await run.GetSummary() is null)
            {
                return Error(StatusCodes.Status404NotFound, $"unknown run '{id}'");
            }
            var after = request.Query["after"] is { Count: > 0 } cursor ? ApiRequests.Id(cursor, "after") : null;
            var page = await run.GetJobsPage(after, ApiRequests.Count(request.Query["limit"], "limit", 1000) ?? 500);
            return Ok(new { jobs = page.Items, next = page.Next });
        });
        api.MapGet("/runs/{id}/results", async (IGrainFactory grains, string id) =>
        {
            var run = grains.GetGrain<IRunGrain>(ApiRequests.Id(id, "run id"));
            return await run.GetSummary() is null ? Error(StatusCodes.Status404NotFound, $"unknown run '{id}'") : Ok(await run.GetResults());
        });
        api.MapPost("/runs", async (IGrainFactory grains, HttpRequest request) =>
        {
            var (runId, spec) = ApiRequests.Submit(await ReadBodyAsync(request));
            var id = runId ?? $"{spec.Kind}-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Random.Shared.Next(0x10000):x4}";
            var result = await grains.GetGrain<IRunGrain>(id).Submit(spec);
            return result.Error is { } error ? Error(StatusCodes.Status400BadRequest, error)
                : Results.Json(result, Json, statusCode: result.Created ? StatusCodes.Status201Created : StatusCodes.Status200OK);
        });
        api.MapPost("/runs/{id}/cancel", async (IGrainFactory grains, string id) => Command(await grains.GetGrain<IRunGrain>(ApiRequests.Id(id, "run id")).Cancel()));
        api.MapGet("/jobs/{id}", async (IGrainFactory grains, string id) =>
            await grains.GetGrain<IJobGrain>(ApiRequests.Id(id, "job id")).GetDetail() is { } detail ? Ok(detail) : Error(StatusCodes.Status404NotFound, $"unknown job '{id}'"));
        api.MapGet("/jobs/{id}/metrics", async (IGrainFactory grains, HttpRequest request, string id) =>
        {
            var job = grains.GetGrain<IJobGrain>(ApiRequests.Id(id, "job id"));
            var query = new MetricQuery(
                ApiRequests.Text(request.Query["name"], "name"),
                ApiRequests.Cursor(request.Query["after_step"], "after_step") ?? -1,
                ApiRequests.Count(request.Query["limit"], "limit", MetricQuery.MaxLimit) ?? MetricQuery.DefaultLimit,
                ApiRequests.Count(request.Query["points"], "points", MetricQuery.MaxPoints));
            if (await job.GetDetail() is null)
            {
                return Error(StatusCodes.Status404NotFound, $"unknown job '{id}'");
            }
            var page = await job.GetMetrics(query);
            return Ok(new { points = page.Points, next_after_step = page.NextAfterStep });
        });
        api.MapGet("/jobs/{id}/artifacts", async (IGrainFactory grains, string id) =>
        {
            var job = grains.GetGrain<IJobGrain>(ApiRequests.Id(id, "job id"));
            return await job.GetDetail() is null ? Error(StatusCodes.Status404NotFound, $"unknown job '{id}'") : Ok(await job.GetArtifacts());
        });
        api.MapGet("/jobs/{id}/artifacts/{name}", async (IGrainFactory grains, HttpContext context, string id, string name) =>
        {
            var artifact = await grains.GetGrain<IJobGrain>(ApiRequests.Id(id, "job id")).GetArtifact(ApiRequests.Text(name, "artifact name")!);
            if (artifact is null)
            {
                return Error(StatusCodes.Status404NotFound, $"job '{id}' has no artifact '{ApiRequests.Printable(name)}'");
            }
            // Images show inline; anything else downloads, so no artifact can be rendered as a page of this origin.
            var image = artifact.Info.ContentType is "image/png" or "image/jpeg";
            if (!image)
            {
                context.Response.Headers.ContentDisposition = new System.Net.Mime.ContentDisposition { FileName = artifact.Info.Name, Inline = false }.ToString();
            }
            return Results.Bytes(artifact.Content, image ? artifact.Info.ContentType : "application/octet-stream");
        });
        api.MapPost("/jobs/{id}/cancel", async (IGrainFactory grains, string id) => Command(await grains.GetGrain<IJobGrain>(ApiRequests.Id(id, "job id")).Cancel("cancelled from the API")));
        api.MapPost("/jobs/{id}/retry", async (IGrainFactory grains, string id) => Command(await grains.GetGrain<IJobGrain>(ApiRequests.Id(id, "job id")).Retry()));

        api.MapGet("/schedules", async (IGrainFactory grains) => Ok(await grains.GetGrain<IScheduleCatalogGrain>(0).List()));
        api.MapGet("/schedules/{name}", async (IGrainFactory grains, string name) =>
            await grains.GetGrain<IScheduleGrain>(ApiRequests.Id(name, "schedule name")).Get() is { } view ? Ok(view) : Error(StatusCodes.Status404NotFound, $"unknown schedule '{name}'"));
        api.MapPost("/schedules", async (IGrainFactory grains, HttpRequest request) =>
        {
            var (name, spec) = ApiRequests.Schedule(await ReadBodyAsync(request));
            var result = await grains.GetGrain<IScheduleGrain>(name).Add(spec);
            return result.Ok ? Results.Json(result, Json, statusCode: StatusCodes.Status201Created) : Error(StatusCodes.Status400BadRequest, result.Message);
        });
        api.MapPost("/schedules/{name}/pause", async (IGrainFactory grains, string name) => Command(await grains.GetGrain<IScheduleGrain>(ApiRequests.Id(name, "schedule name")).SetPaused(true)));
        api.MapPost("/schedules/{name}/resume", async (IGrainFactory grains, string name) => Command(await grains.GetGrain<IScheduleGrain>(ApiRequests.Id(name, "schedule name")).SetPaused(false)));
        api.MapDelete("/schedules/{name}", async (IGrainFactory grains, string name) => Command(await grains.GetGrain<IScheduleGrain>(ApiRequests.Id(name, "schedule name")).Remove()));
        api.MapFallback((HttpContext context) => Error(StatusCodes.Status404NotFound,
            $"no API endpoint {context.Request.Method} {ApiRequests.Printable(context.Request.Path.Value ?? "")}"));
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

    /// <summary>The request's JSON body (at most <see cref="ApiRequests.MaxBodyBytes"/>, nested at most 16 deep).</summary>
    private static async Task<JsonElement> ReadBodyAsync(HttpRequest request)
    {
        try
        {
            using var document = await JsonDocument.ParseAsync(request.Body, BodyOptions, request.HttpContext.RequestAborted);
            return document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new BadRequestException($"the request body is not valid JSON: {ex.Message}");
        }
    }
}
