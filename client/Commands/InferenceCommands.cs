namespace PunkGrid.Client;

/// <summary>
/// <c>punkgrid generate|predict</c>: inference with a run's trained models (<c>--run</c>), or with the registered versions an
/// alias points at (<c>--alias production</c>), on a worker silo.
/// </summary>
public static partial class PunkGridCommandLine
{
    private static Command GenerateCommand(Io io)
    {
        var generate = new Command("generate", "Draw punks with a run's trained VAE or GAN (runs on a worker silo); writes a PNG grid.");
        foreach (var kind in new[] { JobKinds.Vae, JobKinds.Gan })
        {
            var command = new Command(kind, $"Punks from the {kind.ToUpperInvariant()} of a run.");
            var run = new Option<string?>("--run") { Description = "The run whose model to use." };
            var alias = new Option<string?>("--alias")
            {
                Description = kind == JobKinds.Gan
                    ? "Use the registered version this alias points at: of gan/conditional with --traits, else of gan."
                    : "Use the registered version of vae this alias points at (e.g. production).",
            };
            var traits = new Option<string?>("--traits") { Description = "Traits to draw (conditional GAN only), e.g. Female,Tiara." };
            var count = new Option<int>("--count") { DefaultValueFactory = _ => 16, Description = "How many punks (1..256)." };
            var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1, Description = "Seed of the noise." };
            var output = new Option<string>("--out") { Required = true, Description = "PNG file to write." };
            foreach (var option in new Option[] { run, alias, count, seed, output }.Concat(kind == JobKinds.Gan ? [traits] : []))
            {
                command.Options.Add(option);
            }
            command.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
            {
                var asked = (parse.GetValue(traits) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                var inference = client.GetGrain<IInferenceGrain>(0);
                var result = RunOrAlias(parse.GetValue(run), parse.GetValue(alias)) is { Run: { } runId }
                    ? await inference.Generate(runId, kind, asked, parse.GetValue(count), parse.GetValue(seed))
                    : await inference.GenerateByAlias(kind == JobKinds.Gan && asked.Length > 0 ? "gan/conditional" : kind, parse.GetValue(alias)!, asked,
                        parse.GetValue(count), parse.GetValue(seed));
                if (result.Png is null)
                {
                    throw new UsageException(result.Error ?? "nothing was generated");
                }
                var path = parse.GetValue(output)!;
                await File.WriteAllBytesAsync(path, result.Png, cancellation);
                await io.Out.WriteLineAsync($"wrote {path}: {parse.GetValue(count)} punk(s) from job {result.JobId}");
                return 0;
            }));
            generate.Subcommands.Add(command);
        }
        return generate;
    }

    private static Command PredictCommand(Io io)
    {
        var predict = new Command("predict", "Score punks with a run's trained models (runs on a worker silo).");
        var traits = new Command("traits", "The probability of each trait of a sweep for one punk, its true traits beside them when known.");
        var run = new Option<string?>("--run") { Description = "The trait sweep whose models to use (a search's run: each trait's best trial)." };
        var search = new Option<string?>("--search") { Description = "Use each trait's best trial of this search." };
        var alias = new Option<string?>("--alias") { Description = "Use each trait model's registered version this alias points at (e.g. production)." };
        var punk = new Option<int?>("--punk") { Description = "A punk id, 0..9999." };
        var image = new Option<string?>("--image") { Description = "A 24x24 punk image (PNG)." };
        foreach (var option in new Option[] { run, search, alias, punk, image, JsonOption })
        {
            traits.Options.Add(option);
        }
        traits.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var (id, file) = (parse.GetValue(punk), parse.GetValue(image));
            if (id is null == file is null)
            {
                throw new UsageException("give either --punk ID or --image FILE");
            }
            var searched = NullIfBlank(parse.GetValue(search));
            if (searched is not null && (parse.GetValue(run) is not null || parse.GetValue(alias) is not null))
            {
                throw new UsageException("give one of --run RUN, --search SEARCH or --alias ALIAS");
            }
            // A search's trials are the jobs of a run of its id.
            var source = RunOrAlias(searched ?? parse.GetValue(run), parse.GetValue(alias));
            var bytes = file is null ? null : await ReadImageAsync(file, cancellation);
            var inference = client.GetGrain<IInferenceGrain>(0);
            var result = source.Run is { } runId ? await inference.PredictTraits(runId, id, bytes) : await inference.PredictTraitsByAlias(source.Alias!, id, bytes);
            if (result.Error is not null)
            {
                throw new UsageException(result.Error);
            }
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, result.Predictions, CliJson.Default.IReadOnlyListTraitPrediction);
            }
            var table = new Table().AddColumns("trait", "probability", "threshold", "predicted", "actual");
            foreach (var p in result.Predictions.OrderByDescending(p => p.Probability))
            {
                table.AddRow(Markup.Escape(p.Trait), p.Probability.ToString("F4", CultureInfo.InvariantCulture),
                    p.Threshold.ToString("F3", CultureInfo.InvariantCulture), p.Predicted ? "yes" : "no",
                    p.Actual switch { true => "yes", false => "no", null => "" });
            }
            io.Console.Write(table);
            return 0;
        }));
        predict.Subcommands.Add(traits);

        var pokemon = new Command("pokemon", "The five most likely Pokémon for an image, from a run's classifier.");
        var pokemonRun = new Option<string?>("--run") { Description = "The run whose Pokémon classifier to use." };
        var pokemonAlias = new Option<string?>("--alias") { Description = "Use the registered version of pokemon this alias points at." };
        var pokemonImage = new Option<string>("--image") { Required = true, Description = "An image file (JPEG, PNG, BMP, GIF; any size)." };
        foreach (var option in new Option[] { pokemonRun, pokemonAlias, pokemonImage, JsonOption })
        {
            pokemon.Options.Add(option);
        }
        pokemon.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var file = parse.GetValue(pokemonImage)!;
            var source = RunOrAlias(parse.GetValue(pokemonRun), parse.GetValue(pokemonAlias));
            var inference = client.GetGrain<IInferenceGrain>(0);
            var bytes = await ReadImageAsync(file, cancellation);
            var result = source.Run is { } runId ? await inference.PredictPokemon(runId, bytes) : await inference.PredictPokemonByAlias(source.Alias!, bytes);
            if (result.Error is not null)
            {
                throw new UsageException(result.Error);
            }
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, result.Top5, CliJson.Default.IReadOnlyListClassPrediction);
            }
            var table = new Table().AddColumns("rank", "pokemon", "probability");
            foreach (var (p, rank) in result.Top5.Select((p, i) => (p, i + 1)))
            {
                table.AddRow($"{rank}", Markup.Escape(p.Name), p.Probability.ToString("P1", CultureInfo.InvariantCulture));
            }
            io.Console.Write(table);
            return 0;
        }));
        predict.Subcommands.Add(pokemon);
        return predict;
    }

    /// <summary>Which models to use: a run's, or the versions an alias points at — exactly one of the two.</summary>
    private static (string? Run, string? Alias) RunOrAlias(string? run, string? alias) =>
        (string.IsNullOrWhiteSpace(run), string.IsNullOrWhiteSpace(alias)) switch
        {
            (false, true) => (run!.Trim(), null),
            (true, false) => (null, alias!.Trim()),
            _ => throw new UsageException("give either --run RUN or --alias ALIAS (a registered model's alias, see `punkgrid models list`)"),
        };

    private static async Task<byte[]> ReadImageAsync(string file, CancellationToken cancellation)
    {
        var info = new FileInfo(file);
        if (!info.Exists)
        {
            throw new UsageException($"image file not found: {file}");
        }
        if (info.Length > InferenceLimits.MaxImageBytes)
        {
            throw new UsageException($"image file {file} is {info.Length} bytes; at most {InferenceLimits.MaxImageBytes} are accepted");
        }
        return await File.ReadAllBytesAsync(file, cancellation);
    }
}
