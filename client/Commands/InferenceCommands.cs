namespace PunkGrid.Client;

/// <summary><c>punkgrid generate|predict</c>: inference with a run's trained models, on a worker silo.</summary>
public static partial class PunkGridCommandLine
{
    private static Command GenerateCommand(Io io)
    {
        var generate = new Command("generate", "Draw punks with a run's trained VAE or GAN (runs on a worker silo); writes a PNG grid.");
        foreach (var kind in new[] { JobKinds.Vae, JobKinds.Gan })
        {
            var command = new Command(kind, $"Punks from the {kind.ToUpperInvariant()} of a run.");
            var run = new Option<string>("--run") { Required = true, Description = "The run whose model to use." };
            var traits = new Option<string?>("--traits") { Description = "Traits to draw (conditional GAN only), e.g. Female,Tiara." };
            var count = new Option<int>("--count") { DefaultValueFactory = _ => 16, Description = "How many punks (1..256)." };
            var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1, Description = "Seed of the noise." };
            var output = new Option<string>("--out") { Required = true, Description = "PNG file to write." };
            foreach (var option in new Option[] { run, count, seed, output }.Concat(kind == JobKinds.Gan ? [traits] : []))
            {
                command.Options.Add(option);
            }
            command.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
            {
                var asked = (parse.GetValue(traits) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                var result = await client.GetGrain<IInferenceGrain>(0).Generate(parse.GetValue(run)!, kind, asked, parse.GetValue(count), parse.GetValue(seed));
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
        var run = new Option<string>("--run") { Required = true, Description = "The trait sweep whose models to use." };
        var punk = new Option<int?>("--punk") { Description = "A punk id, 0..9999." };
        var image = new Option<string?>("--image") { Description = "A 24x24 punk image (PNG)." };
        foreach (var option in new Option[] { run, punk, image, JsonOption })
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
            var bytes = file is null ? null : await ReadImageAsync(file, cancellation);
            var result = await client.GetGrain<IInferenceGrain>(0).PredictTraits(parse.GetValue(run)!, id, bytes);
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
        var pokemonRun = new Option<string>("--run") { Required = true, Description = "The run whose Pokémon classifier to use." };
        var pokemonImage = new Option<string>("--image") { Required = true, Description = "An image file (JPEG, PNG, BMP, GIF; any size)." };
        foreach (var option in new Option[] { pokemonRun, pokemonImage, JsonOption })
        {
            pokemon.Options.Add(option);
        }
        pokemon.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var file = parse.GetValue(pokemonImage)!;
            var result = await client.GetGrain<IInferenceGrain>(0).PredictPokemon(parse.GetValue(pokemonRun)!, await ReadImageAsync(file, cancellation));
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
