using PunkGrid.Training.Data;

namespace PunkGrid.Training.Tests;

public class PunkTraitTableTests
{
    private static PunkTraitTable Traits => TestData.Punks.Traits;

    [Theory]
    [InlineData("Male", 6039)]
    [InlineData("Female", 3840)]
    [InlineData("Zombie", 88)]
    [InlineData("Ape", 24)]
    [InlineData("Alien", 9)]
    [InlineData("Earring", 2459)]
    [InlineData("Beanie", 44)]
    public void Counts_match_the_real_punks(string trait, int expected) => Assert.Equal(expected, Traits.CountOf(trait));

    [Fact]
    public void There_are_92_traits_types_first_then_87_accessories()
    {
        Assert.Equal(92, Traits.TraitNames.Count);
        Assert.Equal(["Male", "Female", "Zombie", "Ape", "Alien"], Traits.TraitNames.Take(5));
        Assert.Equal(87, Traits.AccessoryNames.Count);
        Assert.Contains("3D Glasses", Traits.AccessoryNames);
        Assert.Contains("Big Shades", Traits.AccessoryNames);
        Assert.Equal(Traits.AccessoryNames.Order(StringComparer.Ordinal), Traits.AccessoryNames);
    }

    [Fact]
    public void Every_punk_has_exactly_one_type_and_eight_have_no_accessory()
    {
        var withoutAccessory = 0;
        for (var punk = 0; punk < PunkTraitTable.PunkCount; punk++)
        {
            Assert.Equal(1, Enumerable.Range(0, 5).Count(t => Traits.Has(punk, t)));
            if (Traits.TraitsOf(punk).Count == 1)
            {
                withoutAccessory++;
            }
        }
        Assert.Equal(8, withoutAccessory);
    }

    [Fact]
    public void Punk_zero_has_the_traits_of_its_csv_row()
    {
        // 0, Female, 3, Green Eye Shadow / Earring / Blonde Bob
        Assert.Equal(["Female", "Blonde Bob", "Earring", "Green Eye Shadow"], Traits.TraitsOf(0));
    }

    [Theory]
    [InlineData("male", "Male")]
    [InlineData("big-shades", "Big Shades")]
    [InlineData("BIG_SHADES", "Big Shades")]
    [InlineData(" Hoodie ", "Hoodie")]
    public void Trait_names_are_found_ignoring_case_and_separators(string given, string canonical) =>
        Assert.Equal(canonical, Traits.CanonicalName(given));

    [Fact]
    public void An_unknown_trait_is_named_with_the_allowed_names()
    {
        var error = Assert.Throws<UnknownTraitException>(() => Traits.IndexOf("Unicorn Horn"));
        Assert.Contains("'Unicorn Horn'", error.Message);
        Assert.Contains("Allowed (92)", error.Message);
        Assert.Contains("Hoodie", error.Message);
    }

    [Fact]
    public void A_close_name_gets_a_suggestion()
    {
        var error = Assert.Throws<UnknownTraitException>(() => Traits.IndexOf("Shades"));
        Assert.Contains("Did you mean", error.Message);
        Assert.Contains("Big Shades", error.Message);
    }

    private static string CsvWith(params string[] rows)
    {
        var lines = new List<string> { "id, type, count, accessories" };
        lines.AddRange(rows);
        return string.Join("\r\n", lines);
    }

    [Theory]
    [InlineData("0, Male, 1", "test.csv:2: expected 4 fields")]
    [InlineData("zero, Male, 0, ", "punk id 'zero' is not an integer in 0..9999")]
    [InlineData("10000, Male, 0, ", "punk id '10000'")]
    [InlineData("0, Robot, 0, ", "unknown punk type 'Robot'; allowed: Male, Female, Zombie, Ape, Alien")]
    [InlineData("0, Male, two, Hoodie", "accessory count 'two'")]
    [InlineData("0, Male, 2, Hoodie", "declares 2 accessories but lists 1")]
    public void A_malformed_row_names_the_file_line_and_value(string row, string expected)
    {
        var error = Assert.Throws<DataFormatException>(() => PunkTraitTable.Parse(new StringReader(CsvWith(row)), "test.csv"));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void A_duplicate_id_names_its_line()
    {
        var error = Assert.Throws<DataFormatException>(() =>
            PunkTraitTable.Parse(new StringReader(CsvWith("5, Male, 0, ", "5, Female, 0, ")), "test.csv"));
        Assert.Contains("test.csv:3: punk id 5 appears twice", error.Message);
    }

    [Fact]
    public void A_wrong_header_and_a_short_table_are_rejected()
    {
        Assert.Contains("expected the header", Assert.Throws<DataFormatException>(() =>
            PunkTraitTable.Parse(new StringReader("id,kind\n"), "test.csv")).Message);
        Assert.Contains("expected 10000 punks", Assert.Throws<DataFormatException>(() =>
            PunkTraitTable.Parse(new StringReader(CsvWith("0, Male, 0, ")), "test.csv")).Message);
    }

    [Fact]
    public void A_missing_file_says_where_it_looked_and_how_to_get_it()
    {
        var error = Assert.Throws<DataFormatException>(() => PunkTraitTable.Load("/nonexistent/cryptopunks-classic.csv"));
        Assert.Contains("/nonexistent/cryptopunks-classic.csv", error.Message);
        Assert.Contains("data fetch", error.Message);
    }
}
