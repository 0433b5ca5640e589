using System.Text.Json;
using Orleans.Concurrency;
using PunkGrid.Contracts;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Storage;
using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Data;
using PunkGrid.Training.Inference;

namespace PunkGrid.Server.Grains;

/// <summary>
/// Inference on the silo that receives the call: finds the run's succeeded models in PostgreSQL and hands their bytes to
/// the <see cref="PunkInferenceEngine"/> (which caches the loaded networks). The grain itself never sees a tensor.
/// </summary>
[StatelessWorker]
public sealed class InferenceGrain(JobStore store, ArtifactStore artifacts, ModelRegistryStore registry, Search.SearchStore searches, PunkInferenceEngine engine)
    : Grain, IInferenceGrain
{
    public const int MaxCount = 256;

    private async Task<StoredModel?> LoadAsync(JobSummary job)
    {
        var weights = await artifacts.ReadAsync(job.JobId, "model.bin");
        var evaluation = await artifacts.ReadAsync(job.JobId, "eval.json");
        if (weights is null || evaluation is null)
        {
            return null;
        }
        using var document = JsonDocument.Parse(evaluation.Content);
        var settings = document.RootElement.EnumerateObject()
            .Where(p => p.Value.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array))
            .ToDictionary(p => p.Name, p => p.Value.ValueKind switch
            {
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                _ => p.Value.ToString(),
            });
        return new StoredModel(job.JobId, weights.Content, settings);
    }

    public async Task<GenerateResult> Generate(string runId, string kind, IReadOnlyList<string> traits, int count, int seed)
    {
        if (kind is not (JobKinds.Vae or JobKinds.Gan))
        {
            return new GenerateResult(null, null, $"cannot generate with '{kind}'; allowed: vae, gan");
        }
        if (RefuseCount(count) is { } refused)
        {
            return refused;
        }
        var jobs = await store.GetJobsAsync(runId);
        if (jobs.Count == 0)
        {
            return new GenerateResult(null, null, $"unknown run '{runId}'", NotFound: true);
        }
        var job = jobs.FirstOrDefault(j => j.Kind == kind && j.State == JobState.Succeeded);
        if (job is null)
        {
            return new GenerateResult(null, null, $"run '{runId}' has no succeeded {kind} job (its jobs: {string.Join(", ", jobs.Select(j => $"{j.Kind} {j.State}"))})");
        }
        return await GenerateWithAsync(job, kind, traits, count, seed);
    }

    public async Task<GenerateResult> GenerateByAlias(string model, string alias, IReadOnlyList<string> traits, int count, int seed)
    {
        var kind = model.Split('/')[0];
        if (model is not (JobKinds.Vae or JobKinds.Gan or "gan/conditional"))
        {
            return new GenerateResult(null, null, $"cannot generate with model '{model}'; allowed: vae, gan, gan/conditional");
        }
        if (RefuseCount(count) is { } refused)
        {
            return refused;
        }
        if (await registry.ResolveAsync(model, alias) is not { } jobId || await store.GetJobAsync(jobId) is not { } job)
        {
            return new GenerateResult(null, null, $"model '{model}' has no version with alias '{alias}' (see `punkgrid models show {model}`)", NotFound: true);
        }
        return await GenerateWithAsync(job.Summary, kind, traits, count, seed);
    }

    /// <summary>Why <paramref name="count"/> punks cannot be drawn; null when they can.</summary>
    private static GenerateResult? RefuseCount(int count) =>
        count is < 1 or > MaxCount ? new GenerateResult(null, null, $"count {count} is not allowed: 1..{MaxCount}") : null;

    private async Task<GenerateResult> GenerateWithAsync(JobSummary job, string kind, IReadOnlyList<string> traits, int count, int seed)
    {
        var model = await LoadAsync(job);
        if (model is null)
        {
            return new GenerateResult(job.JobId, null, $"job {job.JobId} has no stored model");
        }
        try
        {
            var png = kind == JobKinds.Vae ? engine.GenerateWithVae(model, count, seed) : engine.GenerateWithGan(model, traits, count, seed);
            return new GenerateResult(job.JobId, png, null);
        }
        catch (Exception ex) when (ex is ArgumentException or CheckpointFormatException)
        {
            return new GenerateResult(job.JobId, null, ex.Message);
        }
    }

    public async Task<PredictPokemonResult> PredictPokemon(string runId, byte[] image)
    {
        if (RefuseImage(image) is { } refused)
        {
            return new PredictPokemonResult([], refused);
        }
        var jobs = await store.GetJobsAsync(runId);
        if (jobs.Count == 0)
        {
            return new PredictPokemonResult([], $"unknown run '{runId}'", NotFound: true);
        }
        var job = jobs.FirstOrDefault(j => j.Kind == JobKinds.Pokemon && j.State == JobState.Succeeded);
        if (job is null)
        {
            return new PredictPokemonResult([], $"run '{runId}' has no succeeded pokemon job");
        }
        return await PredictPokemonWithAsync(job, image);
    }

    public async Task<PredictPokemonResult> PredictPokemonByAlias(string alias, byte[] image)
    {
        if (RefuseImage(image) is { } refused)
        {
            return new PredictPokemonResult([], refused);
        }
        if (await registry.ResolveAsync(JobKinds.Pokemon, alias) is not { } jobId || await store.GetJobAsync(jobId) is not { } job)
        {
            return new PredictPokemonResult([], $"model 'pokemon' has no version with alias '{alias}' (see `punkgrid models show pokemon`)", NotFound: true);
        }
        return await PredictPokemonWithAsync(job.Summary, image);
    }

    private async Task<PredictPokemonResult> PredictPokemonWithAsync(JobSummary job, byte[] image)
    {
        var model = await LoadAsync(job);
        var classes = await artifacts.ReadAsync(job.JobId, "classes.json");
        if (model is null || classes is null)
        {
            return new PredictPokemonResult([], $"job {job.JobId} has no stored model");
        }
        try
        {
            var names = JsonSerializer.Deserialize<List<string>>(classes.Content)!;
            var top = engine.PredictPokemon(model, names, image);
            return new PredictPokemonResult(top.Select(p => new ClassPrediction(p.Name, p.Probability)).ToList(), null);
        }
        catch (Exception ex) when (ex is ArgumentException or CheckpointFormatException)
        {
            return new PredictPokemonResult([], ex.Message);
        }
    }

    public async Task<PredictTraitsResult> PredictTraits(string runId, int? punkId, byte[]? image)
    {
        if (image is not null && RefuseImage(image) is { } refused)
        {
            return new PredictTraitsResult([], refused);
        }
        var jobs = await store.GetJobsAsync(runId);
        if (jobs.Count == 0)
        {
            return new PredictTraitsResult([], $"unknown run '{runId}'", NotFound: true);
        }
        if (await searches.GetAsync(runId) is { } search)
        {
            // A search's run holds every trial: each trait is scored by its best trial's model.
            var trials = await searches.GetTrialsAsync(runId, search.Plan.Settings.RungEpochs);
            var best = trials.GroupBy(t => t.Target).Select(g => Search.SearchPlanner.BestTrial(search.Plan, g)?.Trial.JobId).OfType<string>().ToHashSet();
            jobs = jobs.Where(j => best.Contains(j.JobId)).ToList();
        }
        return await PredictTraitsWithAsync(jobs.Where(j => j.Kind == JobKinds.Trait && j.State == JobState.Succeeded && j.Target is not null).ToList(),
            punkId, image, $"run '{runId}' has no succeeded trait models yet");
    }

    public async Task<PredictTraitsResult> PredictTraitsByAlias(string alias, int? punkId, byte[]? image)
    {
        if (image is not null && RefuseImage(image) is { } refused)
        {
            return new PredictTraitsResult([], refused);
        }
        var jobs = new List<JobSummary>();
        foreach (var (_, _, jobId) in await registry.ResolveAllAsync("trait/", alias, prefix: true))
        {
            if (await store.GetJobAsync(jobId) is { } job)
            {
                jobs.Add(job.Summary);
            }
        }
        return jobs.Count == 0
            ? new PredictTraitsResult([], $"no trait model has a version with alias '{alias}' (see `punkgrid models list`)", NotFound: true)
            : await PredictTraitsWithAsync(jobs, punkId, image, $"the trait models with alias '{alias}' have no stored model");
    }

    private async Task<PredictTraitsResult> PredictTraitsWithAsync(IReadOnlyList<JobSummary> jobs, int? punkId, byte[]? image, string none)
    {
        var models = new List<(string, StoredModel)>();
        foreach (var job in jobs)
        {
            if (await LoadAsync(job) is { } model)
            {
                models.Add((job.Target!, model));
            }
        }
        if (models.Count == 0)
        {
            return new PredictTraitsResult([], none);
        }
        try
        {
            var predictions = engine.PredictTraits(models, punkId, image);
            return new PredictTraitsResult(predictions.Select(p => new TraitPrediction(p.Trait, p.Probability, p.Actual, p.Threshold)).ToList(), null);
        }
        catch (Exception ex) when (ex is ArgumentException or DataFormatException or CheckpointFormatException)
        {
            return new PredictTraitsResult([], ex.Message);
        }
    }

    /// <summary>Why an image cannot be taken (too large a file, too large in its header, not an image), before anything is loaded or decoded.</summary>
    private static string? RefuseImage(byte[] image)
    {
        try
        {
            PunkGrid.Training.Imaging.ImageLimits.Check(image);
            return null;
        }
        catch (ArgumentException ex)
        {
            return ex.Message;
        }
    }
}
