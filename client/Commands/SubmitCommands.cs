namespace PunkGrid.Client;

/// <summary><c>punkgrid submit traits|vae|gan|pokemon|noop</c>: one run, created in one transaction and queued; <c>--watch</c> follows it.</summary>
public static partial class PunkGridCommandLine
{
    /// <summary>What a <c>submit …</c> line does with the run it describes: <paramref name="build"/> validates and makes it.</summary>
    private delegate Task<int> RunHandler(ParseResult parse, CancellationToken cancellation, Func<(string? RunId, RunSpec Spec)> build);

    private static RunHandler SubmitHandler(Io io) => (parse, cancellation, build) => Execute(parse, io, cancellation, client =>
    {
        var (id, spec) = build();
        id ??= $"{(spec.Kind == JobKinds.Trait ? "traits" : spec.Kind)}-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Random.Shared.Next(0x10000):x4}";
        return SubmitAsync(client, id, spec, parse, io, parse.GetValue<bool>("--watch"));
    });

    private static Command SubmitCommand(Io io, RunHandler? handler = null)
    {
        handler ??= SubmitHandler(io);
        var submit = new Command("submit", "Submit a run.");
        var traits = new Command("traits", "A sweep of trait classifiers: one job per trait.");
        var all = new Option<bool>("--all") { Description = "All 92 traits." };
        var names = new Option<string?>("--traits") { Description = "Comma-separated trait names, e.g. Male,Hoodie,\"Big Shades\"." };
        var profile = new Option<string>("--profile") { DefaultValueFactory = _ => JobSpec.DefaultProfile, Description = "seed (the write-up), tuned (rgb, Adam, a threshold chosen on a validation split), demo (the tuned recipe, short) or quick (a smoke test)." };
        var epochs = new Option<int?>("--epochs") { Description = "Override epochs." };
        var samples = new Option<int?>("--train-samples") { Description = "Override the balanced training set size." };
        var color = new Option<string?>("--color") { Description = "gray (seed) or rgb." };
        var set = new Option<string[]>("--set") { Description = "Override any hyperparameter: key=value (repeatable)." };
        var device = new Option<string?>("--device") { Description = "Where the jobs may run: any (default), cpu, or cuda (GPU workers only)." };
        var priority = new Option<int>("--priority") { DefaultValueFactory = _ => 0, Description = "Higher runs first." };
        var runId = new Option<string?>("--run-id") { Description = "Your own run id: submitting it again changes nothing (idempotent)." };
        var watch = new Option<bool>("--watch") { Description = "Watch the run after submitting it." };
        var promote = PromoteOption();
        var fromSearch = FromSearchOption();
        foreach (var option in new Option[] { all, names, profile, epochs, samples, color, set, device, priority, runId, promote, fromSearch, watch, JsonOption })
        {
            traits.Options.Add(option);
        }
        traits.SetAction((parse, cancellation) => handler(parse, cancellation, () =>
        {
            var list = (parse.GetValue(names) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var search = NullIfBlank(parse.GetValue(fromSearch));
            if (search is not null && parse.GetValue(all))
            {
                throw new UsageException("--from-search takes the traits the search searched (or those --traits names); --all does not apply");
            }
            if (search is null && parse.GetValue(all) == list.Length > 0)
            {
                throw new UsageException("give either --all or --traits A,B,… (not both, not neither)");
            }
            var parameters = JobParameters.ParseAssignments(parse.GetValue(set));
            JobParameters.SetIfGiven(parameters, "epochs", parse.GetValue(epochs));
            JobParameters.SetIfGiven(parameters, "train_samples", parse.GetValue(samples));
            JobParameters.SetIfGiven(parameters, "color", parse.GetValue(color));
            JobParameters.SetIfGiven(parameters, "device", parse.GetValue(device));
            return (parse.GetValue(runId), new RunSpec(JobKinds.Trait, list, parse.GetValue(all), parse.GetValue(profile)!, parameters, parse.GetValue(priority),
                parse.GetValue(promote), search));
        }));
        submit.Subcommands.Add(traits);
        submit.Subcommands.Add(SingleJobSubmit(JobKinds.Vae, "The PunkVAE (one job): PNG reconstructions, prior samples and an interpolation as artifacts.", handler));
        submit.Subcommands.Add(SingleJobSubmit(JobKinds.Pokemon, "The Pokémon classifier (one job): test top-1/top-5, per-class accuracy, the duplicate report.", handler));
        submit.Subcommands.Add(SingleJobSubmit(JobKinds.Gan, "The Punk GAN (one job; --set conditional=true conditions it on the 92 traits): sample grids as artifacts.", handler));
        submit.Subcommands.Add(SingleJobSubmit(JobKinds.Noop,
            "Jobs that train nothing, for testing and measuring the orchestrator: --set jobs=N duration_ms=… epochs=… metrics_per_second=… checkpoint_bytes=….", handler));
        return submit;
    }

    /// <summary><c>submit vae …</c>: a run of one job of a kind that has no target.</summary>
    private static Command SingleJobSubmit(string kind, string description, RunHandler handler)
    {
        var command = new Command(kind, description);
        var profile = new Option<string>("--profile") { DefaultValueFactory = _ => JobSpec.DefaultProfile, Description = "seed (the write-up), quick (minutes on a CPU), or tuned (what the seed runs' measurements or a search found)." };
        var epochs = new Option<int?>("--epochs") { Description = "Override epochs." };
        var set = new Option<string[]>("--set") { Description = "Override any hyperparameter: key=value (repeatable)." };
        var device = new Option<string?>("--device") { Description = "Where the job may run: any (default), cpu, or cuda." };
        var priority = new Option<int>("--priority") { DefaultValueFactory = _ => 0, Description = "Higher runs first." };
        var runId = new Option<string?>("--run-id") { Description = "Your own run id: submitting it again changes nothing (idempotent)." };
        var watch = new Option<bool>("--watch") { Description = "Watch the run after submitting it." };
        var promote = PromoteOption();
        var fromSearch = FromSearchOption();
        foreach (var option in new Option[] { profile, epochs, set, device, priority, runId, fromSearch, watch, JsonOption }.Concat(kind == JobKinds.Noop ? [] : [promote]))
        {
            command.Options.Add(option);
        }
        command.SetAction((parse, cancellation) => handler(parse, cancellation, () =>
        {
            var parameters = JobParameters.ParseAssignments(parse.GetValue(set));
            JobParameters.SetIfGiven(parameters, "epochs", parse.GetValue(epochs));
            JobParameters.SetIfGiven(parameters, "device", parse.GetValue(device));
            return (parse.GetValue(runId), new RunSpec(kind, [], false, parse.GetValue(profile)!, parameters, parse.GetValue(priority),
                kind == JobKinds.Noop ? null : parse.GetValue(promote), NullIfBlank(parse.GetValue(fromSearch))));
        }));
        return command;
    }

    private static Option<string?> FromSearchOption() => new("--from-search")
    {
        Description = "Train each target with the best settings a search found for it (the search's profile, fixed parameters and whole schedule; --set still overrides).",
    };

    private static Option<string?> PromoteOption() => new("--promote-if-better")
    {
        Description = "When the run ends, register its models and point ALIAS (e.g. production) at each new version whose held-out score beats the one ALIAS points at (see punkgrid models).",
    };

    private static async Task<int> SubmitAsync(IClusterClient client, string id, RunSpec spec, ParseResult parse, Io io, bool watch)
    {
        var result = await client.GetGrain<IRunGrain>(id).Submit(spec);
        if (result.Error is not null)
        {
            throw new UsageException(result.Error);
        }
        if (parse.GetValue(JsonOption))
        {
            await PrintJson(io, result, CliJson.Default.SubmitResult);
        }
        else
        {
            io.Console.MarkupLine(result.Created
                ? $"run [bold]{Markup.Escape(id)}[/]: {result.JobCount} job(s) queued"
                : $"run [bold]{Markup.Escape(id)}[/] already exists ({result.JobCount} job(s)); nothing changed");
        }
        return watch ? await WatchAsync(client, id, parse, io) : 0;
    }
}
