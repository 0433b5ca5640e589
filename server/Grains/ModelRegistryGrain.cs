using System.Text.RegularExpressions;
using Orleans.Concurrency;
using PunkGrid.Contracts;
using PunkGrid.Server.Storage;

namespace PunkGrid.Server.Grains;

/// <summary>The model registry, as operators use it (<c>punkgrid models</c>); the rows are <see cref="ModelRegistryStore"/>'s.</summary>
[StatelessWorker]
public sealed class ModelRegistryGrain(ModelRegistryStore registry) : Grain, IModelRegistryGrain
{
    public async Task<RegisterResult> Register(string runId) =>
        await registry.RegisterAsync(runId) is { } registered
            ? new RegisterResult(registered, null)
            : new RegisterResult([], $"unknown run '{runId}' (see `punkgrid runs`)", NotFound: true);

    public async Task<CommandResult> SetAlias(string model, string alias, int version)
    {
        if (!Regex.IsMatch(alias, RunSpec.AliasPattern))
        {
            return new CommandResult(false, $"alias '{alias}' is not allowed: a letter, then up to 39 letters, digits, '_' or '-'");
        }
        return await registry.SetAliasAsync(model, alias, version, "operator") is { } error
            ? new CommandResult(false, error, NotFound: true)
            : new CommandResult(true, $"{model}@{alias} → version {version}");
    }

    public Task<IReadOnlyList<ModelView>> List() => registry.ListAsync();

    public async Task<ModelView?> Show(string model) => (await registry.ListAsync(model)).SingleOrDefault();

    public Task<IReadOnlyList<PromotionDecision>> Promotions(string? model, int limit) => registry.PromotionsAsync(model, Math.Clamp(limit, 1, 1000));
}
