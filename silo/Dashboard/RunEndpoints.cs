using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using PunkGrid.Contracts;

namespace PunkGrid.Silo.Dashboard;

/// <summary><c>/api/runs</c>: list, read, submit and cancel runs.</summary>
public static class RunEndpoints
{
    public static async Task<Ok<RunsPage>> List(IGrainFactory grains, string? limit, string? after)
    {
        var page = await grains.GetGrain<ICatalogGrain>(0).ListRuns(
            ApiRequests.Count(limit, "limit", 1000) ?? 50, after is null ? null : ApiRequests.Id(after, "after"));
        return TypedResults.Ok(new RunsPage(page.Items, page.Next));
    }

    public static async Task<Results<Ok<RunView>, ProblemHttpResult>> Get(IGrainFactory grains, string id, string? jobs_limit)
    {
        var run = grains.GetGrain<IRunGrain>(ApiRequests.Id(id, "run id"));
        if (await run.GetSummary() is not { } summary)
        {
            return UnknownRun(id);
        }
        var page = await run.GetJobsPage(null, ApiRequests.Count(jobs_limit, "jobs_limit", 1000) ?? 500);
        return TypedResults.Ok(new RunView(summary, await run.GetSpec(), page.Items, page.Next));
    }

    public static async Task<Results<Ok<JobsPage>, ProblemHttpResult>> Jobs(IGrainFactory grains, string id, string? limit, string? after)
    {
        var run = grains.GetGrain<IRunGrain>(ApiRequests.Id(id, "run id"));
        if (await run.GetSummary() is null)
        {
            return UnknownRun(id);
        }
        var page = await run.GetJobsPage(after is null ? null : ApiRequests.Id(after, "after"), ApiRequests.Count(limit, "limit", 1000) ?? 500);
        return TypedResults.Ok(new JobsPage(page.Items, page.Next));
    }

    public static async Task<Results<Ok<IReadOnlyList<TraitResultRow>>, ProblemHttpResult>> Results(IGrainFactory grains, string id)
    {
        var run = grains.GetGrain<IRunGrain>(ApiRequests.Id(id, "run id"));
        return await run.GetSummary() is null ? UnknownRun(id) : TypedResults.Ok(await run.GetResults());
    }

    /// <summary>201 with the new run, 200 when a run of that id exists already (a retried submit), 400 when refused.</summary>
    public static async Task<Results<Created<SubmitResult>, Ok<SubmitResult>, ProblemHttpResult>> Submit(IGrainFactory grains, HttpRequest request)
    {
        var (runId, spec) = ApiRequests.Submit(await DashboardApi.ReadBodyAsync(request));
        var id = runId ?? $"{spec.Kind}-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Random.Shared.Next(0x10000):x4}";
        var result = await grains.GetGrain<IRunGrain>(id).Submit(spec);
        if (result.Error is { } error)
        {
            return DashboardApi.BadRequest(error);
        }
        return result.Created ? TypedResults.Created($"/api/runs/{Uri.EscapeDataString(id)}", result) : TypedResults.Ok(result);
    }

    public static async Task<Results<Ok<CommandResult>, ProblemHttpResult>> Cancel(IGrainFactory grains, string id) =>
        DashboardApi.Command(await grains.GetGrain<IRunGrain>(ApiRequests.Id(id, "run id")).Cancel());

    private static ProblemHttpResult UnknownRun(string id) => DashboardApi.NotFound($"unknown run '{id}'");
}
