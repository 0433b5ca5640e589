using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using PunkGrid.Contracts;

namespace PunkGrid.Silo.Dashboard;

/// <summary>
/// The JSON API under <c>/api/</c> that the dashboard page (and external dashboards) use: reading routes for anyone who
/// reaches the dashboard, and routes that change the cluster behind the operator policy (the bearer token, see
/// <see cref="ClusterTokenAuthenticationHandler"/>) and the <see cref="CrossSiteRequestFilter"/>. It talks to the cluster
/// only through the contracts' grains; what it accepts is <see cref="ApiRequests"/>; every error is a problem (RFC 9457).
/// Listings are paged by cursor: runs (<c>?limit=&amp;after=RUN</c>), a run's jobs (<c>?limit=&amp;after=JOB</c>), metrics
/// (<c>?after_step=&amp;limit=</c>, and <c>?points=N</c> to downsample). The handlers are in <see cref="RunEndpoints"/>,
/// <see cref="JobEndpoints"/> and <see cref="ScheduleEndpoints"/>.
/// </summary>
public static class DashboardApi
{
    private static readonly JsonDocumentOptions BodyOptions = new() { MaxDepth = 16 };

    public static void MapPunkGridApi(this WebApplication app)
    {
        var api = app.MapGroup("/api");
        var changes = api.MapGroup("")
            .RequireAuthorization(ClusterTokenAuthenticationHandler.OperatorPolicy)
            .AddEndpointFilter<CrossSiteRequestFilter>();

        api.MapGet("/cluster", GetCluster);

        api.MapGet("/runs", RunEndpoints.List);
        api.MapGet("/runs/{id}", RunEndpoints.Get);
        api.MapGet("/runs/{id}/jobs", RunEndpoints.Jobs);
        api.MapGet("/runs/{id}/results", RunEndpoints.Results);
        changes.MapPost("/runs", RunEndpoints.Submit);
        changes.MapPost("/runs/{id}/cancel", RunEndpoints.Cancel);

        api.MapGet("/jobs/{id}", JobEndpoints.Get);
        api.MapGet("/jobs/{id}/metrics", JobEndpoints.Metrics);
        api.MapGet("/jobs/{id}/logs", JobEndpoints.Logs);
        api.MapGet("/jobs/{id}/artifacts", JobEndpoints.Artifacts);
        api.MapGet("/jobs/{id}/artifacts/{name}", JobEndpoints.Artifact);
        changes.MapPost("/jobs/{id}/cancel", JobEndpoints.Cancel);
        changes.MapPost("/jobs/{id}/retry", JobEndpoints.Retry);

        api.MapGet("/models", ModelEndpoints.List);
        api.MapGet("/models/promotions", ModelEndpoints.Promotions);
        api.MapGet("/searches", SearchEndpoints.List);
        api.MapGet("/searches/{id}", SearchEndpoints.Get);
        changes.MapPost("/searches", SearchEndpoints.Create);
        changes.MapPost("/searches/{id}/cancel", SearchEndpoints.Cancel);
        api.MapGet("/schedules", ScheduleEndpoints.List);
        api.MapGet("/schedules/{name}", ScheduleEndpoints.Get);
        changes.MapPost("/schedules", ScheduleEndpoints.Add);
        changes.MapPost("/schedules/{name}/pause", ScheduleEndpoints.Pause);
        changes.MapPost("/schedules/{name}/resume", ScheduleEndpoints.Resume);
        changes.MapDelete("/schedules/{name}", ScheduleEndpoints.Remove);

        api.MapFallback(NoSuchEndpoint);
    }

    private static async Task<Ok<ClusterView>> GetCluster(IGrainFactory grains)
    {
        var catalog = grains.GetGrain<ICatalogGrain>(0);
        return TypedResults.Ok(new ClusterView(await catalog.ListWorkers(), await catalog.GetQueueDepth(), DateTimeOffset.UtcNow));
    }

    private static ProblemHttpResult NoSuchEndpoint(HttpContext context) =>
        NotFound($"no API endpoint {context.Request.Method} {ApiRequests.Printable(context.Request.Path.Value ?? "")}");

    internal static ProblemHttpResult NotFound(string detail) => TypedResults.Problem(detail, statusCode: StatusCodes.Status404NotFound);

    internal static ProblemHttpResult BadRequest(string detail) => TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest);

    /// <summary>A command's answer: 200 with it, or a problem: 404 for an unknown id, 409 for a state that refuses it.</summary>
    internal static Results<Ok<CommandResult>, ProblemHttpResult> Command(CommandResult result) =>
        result.Ok ? TypedResults.Ok(result)
            : TypedResults.Problem(result.Message, statusCode: result.NotFound ? StatusCodes.Status404NotFound : StatusCodes.Status409Conflict);

    /// <summary>The request's JSON body (at most <see cref="ApiRequests.MaxBodyBytes"/>, nested at most 16 deep).</summary>
    internal static async Task<JsonElement> ReadBodyAsync(HttpRequest request)
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
