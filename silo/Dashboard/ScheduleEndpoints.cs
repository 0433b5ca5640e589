using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using PunkGrid.Contracts;

namespace PunkGrid.Silo.Dashboard;

/// <summary><c>/api/schedules</c>: scheduled retraining — list, read, add, pause, resume, remove.</summary>
public static class ScheduleEndpoints
{
    public static async Task<Ok<IReadOnlyList<ScheduleView>>> List(IGrainFactory grains) =>
        TypedResults.Ok(await grains.GetGrain<IScheduleCatalogGrain>(0).List());

    public static async Task<Results<Ok<ScheduleView>, ProblemHttpResult>> Get(IGrainFactory grains, string name) =>
        await Schedule(grains, name).Get() is { } view ? TypedResults.Ok(view) : DashboardApi.NotFound($"unknown schedule '{name}'");

    public static async Task<Results<Created<CommandResult>, ProblemHttpResult>> Add(IGrainFactory grains, HttpRequest request)
    {
        var (name, spec) = ApiRequests.Schedule(await DashboardApi.ReadBodyAsync(request));
        var result = await grains.GetGrain<IScheduleGrain>(name).Add(spec);
        return result.Ok ? TypedResults.Created($"/api/schedules/{Uri.EscapeDataString(name)}", result) : DashboardApi.BadRequest(result.Message);
    }

    public static async Task<Results<Ok<CommandResult>, ProblemHttpResult>> Pause(IGrainFactory grains, string name) =>
        DashboardApi.Command(await Schedule(grains, name).SetPaused(true));

    public static async Task<Results<Ok<CommandResult>, ProblemHttpResult>> Resume(IGrainFactory grains, string name) =>
        DashboardApi.Command(await Schedule(grains, name).SetPaused(false));

    public static async Task<Results<Ok<CommandResult>, ProblemHttpResult>> Remove(IGrainFactory grains, string name) =>
        DashboardApi.Command(await Schedule(grains, name).Remove());

    private static IScheduleGrain Schedule(IGrainFactory grains, string name) => grains.GetGrain<IScheduleGrain>(ApiRequests.Id(name, "schedule name"));
}
