using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using PunkGrid.Contracts;

namespace PunkGrid.Silo.Dashboard;

/// <summary><c>/api/jobs</c>: a job's detail, metrics, log and artifacts; cancel and retry.</summary>
public static class JobEndpoints
{
    public static async Task<Results<Ok<JobDetail>, ProblemHttpResult>> Get(IGrainFactory grains, string id) =>
        await grains.GetGrain<IJobGrain>(ApiRequests.Id(id, "job id")).GetDetail() is { } detail ? TypedResults.Ok(detail) : UnknownJob(id);

    public static async Task<Results<Ok<MetricsView>, ProblemHttpResult>> Metrics(
        IGrainFactory grains, string id, string? name, string? after_step, string? limit, string? points)
    {
        var job = grains.GetGrain<IJobGrain>(ApiRequests.Id(id, "job id"));
        var query = new MetricQuery(
            ApiRequests.Text(name, "name"),
            ApiRequests.Cursor(after_step, "after_step") ?? -1,
            ApiRequests.Count(limit, "limit", MetricQuery.MaxLimit) ?? MetricQuery.DefaultLimit,
            ApiRequests.Count(points, "points", MetricQuery.MaxPoints));
        if (await job.GetDetail() is null)
        {
            return UnknownJob(id);
        }
        var page = await job.GetMetrics(query);
        return TypedResults.Ok(new MetricsView(page.Points, page.NextAfterStep));
    }

    /// <summary>
    /// A page of the job's log: lines after the id <c>after</c> (the previous page's <c>next</c>), of one <c>attempt</c> or
    /// all, at most <c>limit</c>; <c>tail=true</c> gives the newest lines instead of the oldest.
    /// </summary>
    public static async Task<Results<Ok<JobLogPage>, ProblemHttpResult>> Logs(
        IGrainFactory grains, string id, string? after, string? attempt, string? limit, string? tail)
    {
        var query = new JobLogQuery(
            ApiRequests.Cursor(after, "after") is { } cursor ? Math.Max(0, cursor) : 0,
            ApiRequests.Count(attempt, "attempt", int.MaxValue),
            ApiRequests.Count(limit, "limit", JobLogQuery.MaxLimit) ?? JobLogQuery.DefaultLimit,
            tail switch
            {
                null or "" or "false" => false,
                "true" => true,
                _ => throw new BadRequestException($"tail='{ApiRequests.Printable(tail)}' is not allowed: true or false"),
            });
        return await grains.GetGrain<IJobGrain>(ApiRequests.Id(id, "job id")).GetLogs(query) is { } page ? TypedResults.Ok(page) : UnknownJob(id);
    }

    public static async Task<Results<Ok<IReadOnlyList<ArtifactInfo>>, ProblemHttpResult>> Artifacts(IGrainFactory grains, string id)
    {
        var job = grains.GetGrain<IJobGrain>(ApiRequests.Id(id, "job id"));
        return await job.GetDetail() is null ? UnknownJob(id) : TypedResults.Ok(await job.GetArtifacts());
    }

    /// <summary>An artifact's bytes: images show inline; anything else downloads, so no artifact can be rendered as a page of this origin.</summary>
    public static async Task<Results<FileContentHttpResult, ProblemHttpResult>> Artifact(IGrainFactory grains, string id, string name)
    {
        var artifact = await grains.GetGrain<IJobGrain>(ApiRequests.Id(id, "job id")).GetArtifact(ApiRequests.Text(name, "artifact name")!);
        if (artifact is null)
        {
            return DashboardApi.NotFound($"job '{id}' has no artifact '{ApiRequests.Printable(name)}'");
        }
        return artifact.Info.ContentType is "image/png" or "image/jpeg"
            ? TypedResults.Bytes(artifact.Content, artifact.Info.ContentType)
            : TypedResults.Bytes(artifact.Content, "application/octet-stream", fileDownloadName: artifact.Info.Name);
    }

    public static async Task<Results<Ok<CommandResult>, ProblemHttpResult>> Cancel(IGrainFactory grains, string id) =>
        DashboardApi.Command(await grains.GetGrain<IJobGrain>(ApiRequests.Id(id, "job id")).Cancel("cancelled from the API"));

    public static async Task<Results<Ok<CommandResult>, ProblemHttpResult>> Retry(IGrainFactory grains, string id) =>
        DashboardApi.Command(await grains.GetGrain<IJobGrain>(ApiRequests.Id(id, "job id")).Retry());

    private static ProblemHttpResult UnknownJob(string id) => DashboardApi.NotFound($"unknown job '{id}'");
}
