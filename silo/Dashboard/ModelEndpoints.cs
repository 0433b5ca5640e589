using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using PunkGrid.Contracts;

namespace PunkGrid.Silo.Dashboard;

/// <summary><c>/api/models</c>: the model registry — every model's versions and aliases, and the promote-if-better decisions.</summary>
public static class ModelEndpoints
{
    public static async Task<Ok<IReadOnlyList<ModelView>>> List(IGrainFactory grains) =>
        TypedResults.Ok(await grains.GetGrain<IModelRegistryGrain>(0).List());

    public static async Task<Ok<IReadOnlyList<PromotionDecision>>> Promotions(IGrainFactory grains, string? model, string? limit) =>
        TypedResults.Ok(await grains.GetGrain<IModelRegistryGrain>(0).Promotions(ApiRequests.Text(model, "model"), ApiRequests.Count(limit, "limit", 1000) ?? 100));
}
