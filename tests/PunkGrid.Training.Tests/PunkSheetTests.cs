using PunkGrid.Training.Data;
using StbImageSharp;
using StbImageWriteSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Tests;

public class PunkSheetTests
{
    [Fact]
    public void A_dataset_first_loaded_inside_a_jobs_dispose_scope_outlives_it()
    {
        // The dataset is cached for the process: the first job to load it must not take its tensors down with its scope.
        PunkGrid.Training.Native.TorchRuntime.EnsureInitialized();
        var folder = TestData.NewTemporaryDirectory();
        foreach (var path in new[] { DataDirectory.PunkSheetPath(TestData.Directory), DataDirectory.ClassicTraitsPath(TestData.Directory) })
        {
            var copy = Path.Combine(folder, Path.GetRelativePath(TestData.Directory, path));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(path, copy);
        }
        using (NewDisposeScope())
        {
            Assert.Equal(10_000L, PunkDataset.Load(folder).Tiles.shape[0]);
        }
        var again = PunkDataset.Load(folder);
        Assert.False(again.Tiles.IsInvalid);
        Assert.Equal(10_000L, again.Tiles.shape[0]);
    }

    [Fact]
    public void The_sheet_is_cut_into_10000_tiles_with_id_row_times_100_plus_col()
    {
        var tiles = TestData.Punks.Tiles;
        Assert.Equal([10_000L, 24, 24, 4], tiles.shape);

        using var stream = File.OpenRead(DataDirectory.PunkSheetPath(TestData.Directory));
        var sheet = ImageResult.FromStream(stream, StbImageSharp.ColorComponents.RedGreenBlueAlpha).Data;
        foreach (var (row, col) in new[] { (0, 0), (12, 34), (99, 99), (57, 3) })
        {
            var id = (row * 100) + col;
            var tile = tiles[id].data<byte>().ToArray();
            for (var y = 0; y < 24; y++)
            {
                var expected = sheet.AsSpan((((row * 24) + y) * 2400 * 4) + (col * 24 * 4), 24 * 4);
                Assert.True(expected.SequenceEqual(tile.AsSpan(y * 24 * 4, 24 * 4)), $"punk {id}, pixel row {y}");
            }
        }
    }

    [Fact]
    public void Transparent_background_becomes_the_fixed_colour_in_gray_and_rgb()
    {
        using var tile = TestData.Punks.Tiles.narrow(0, 0, 1);
        Assert.Equal(0, tile[0, 0, 0, 3].item<byte>()); // the corner of punk 0 is transparent
        using var rgb = PunkImageTensors.ToModelInput(tile, PunkColorMode.Rgb);
        using var gray = PunkImageTensors.ToModelInput(tile, PunkColorMode.Gray);
        Assert.Equal([1L, 3, 24, 24], rgb.shape);
        Assert.Equal([1L, 1, 24, 24], gray.shape);
        var bg = PunkImageTensors.Background;
        Assert.Equal(bg.R / 255f, rgb[0, 0, 0, 0].item<float>(), 5);
        Assert.Equal(bg.G / 255f, rgb[0, 1, 0, 0].item<float>(), 5);
        Assert.Equal(bg.B / 255f, rgb[0, 2, 0, 0].item<float>(), 5);
        Assert.Equal(((0.299f * bg.R) + (0.587f * bg.G) + (0.114f * bg.B)) / 255f, gray[0, 0, 0, 0].item<float>(), 5);
        Assert.InRange(rgb.min().item<float>(), 0f, 1f);
        Assert.InRange(rgb.max().item<float>(), 0f, 1f);
    }

    [Fact]
    public void A_sheet_of_the_wrong_size_is_rejected_with_its_size_and_the_expected_one()
    {
        var path = Path.Combine(TestData.NewTemporaryDirectory(), "punks.png");
        using (var file = File.Create(path))
        {
            new ImageWriter().WritePng(new byte[100 * 80 * 4], 100, 80, StbImageWriteSharp.ColorComponents.RedGreenBlueAlpha, file);
        }
        var error = Assert.Throws<DataFormatException>(() => PunkSheet.LoadTiles(path));
        Assert.Contains(path, error.Message);
        Assert.Contains("is 100x80; expected 2400x2400", error.Message);
    }

    [Fact]
    public void A_file_that_is_not_an_image_is_rejected_naming_the_file()
    {
        var path = Path.Combine(TestData.NewTemporaryDirectory(), "punks.png");
        File.WriteAllText(path, "this is not a png");
        var error = Assert.Throws<DataFormatException>(() => PunkSheet.LoadTiles(path));
        Assert.Contains($"punk sheet {path} is not a readable PNG", error.Message);
    }

    [Fact]
    public void A_missing_sheet_names_the_path()
    {
        var error = Assert.Throws<DataFormatException>(() => PunkSheet.LoadTiles("/nonexistent/punks.png"));
        Assert.Contains("punk sheet not found: /nonexistent/punks.png", error.Message);
    }

    [Fact]
    public void Model_input_rejects_tiles_that_are_not_rgba()
    {
        using var wrong = zeros(2, 24, 24, 3, ScalarType.Byte);
        var error = Assert.Throws<ArgumentException>(() => PunkImageTensors.ToModelInput(wrong, PunkColorMode.Gray));
        Assert.Contains("[2, 24, 24, 3]", error.Message);
    }

    [Fact]
    public void Unknown_colour_modes_name_the_allowed_ones()
    {
        Assert.Equal(PunkColorMode.Rgb, PunkImageTensors.ParseColorMode("RGB"));
        var error = Assert.Throws<ArgumentException>(() => PunkImageTensors.ParseColorMode("purple"));
        Assert.Contains("'purple'; allowed: gray, rgb", error.Message);
    }
}
