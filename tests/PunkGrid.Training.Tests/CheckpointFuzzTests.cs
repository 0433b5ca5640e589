using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using PunkGrid.Training.Checkpoints;

namespace PunkGrid.Training.Tests;

/// <summary>
/// The checkpoint decoder fails only with <see cref="CheckpointFormatException"/>, whatever it is given: random bytes,
/// truncations, bit flips, and self-consistent files (every hash recomputed) whose header makes no sense. So a bad
/// checkpoint is always skipped for the previous one, never fails the job with another exception.
/// </summary>
public class CheckpointFuzzTests
{
    private static readonly TrainingCheckpoint Sample = new("trait", 3, 300, 0.9, new Dictionary<string, string> { ["seed"] = "42" },
        new Dictionary<string, byte[]> { ["model"] = [1, 2, 3, 4], ["rng"] = [5, 6] });

    private static void DecodesOrRefuses(byte[] bytes)
    {
        try
        {
            CheckpointCodec.Decode(bytes);
        }
        catch (CheckpointFormatException)
        {
        }
    }

    [Fact]
    public void Random_bytes_truncations_and_bit_flips_are_refused_as_checkpoint_format_errors()
    {
        var random = new Random(7);
        var good = CheckpointCodec.Encode(Sample);
        for (var i = 0; i < 2000; i++)
        {
            var junk = new byte[random.Next(0, 200)];
            random.NextBytes(junk);
            DecodesOrRefuses(junk);
            DecodesOrRefuses(good[..random.Next(good.Length)]);
            var flipped = (byte[])good.Clone();
            flipped[random.Next(flipped.Length)] ^= (byte)(1 << random.Next(8));
            Assert.Throws<CheckpointFormatException>(() => CheckpointCodec.Decode(flipped));
        }
    }

    /// <summary>A file with <paramref name="header"/> as its JSON header and <paramref name="payload"/> after it, every hash correct.</summary>
    private static byte[] SelfConsistent(string header, byte[]? payload = null)
    {
        var json = Encoding.UTF8.GetBytes(header);
        using var stream = new MemoryStream();
        stream.Write("PGCKPT01"u8);
        var length = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(length, json.Length);
        stream.Write(length);
        stream.Write(json);
        stream.Write(payload ?? []);
        stream.Write(SHA256.HashData(stream.ToArray()));
        return stream.ToArray();
    }

    private static readonly string Hash4 = Convert.ToHexStringLower(SHA256.HashData(new byte[] { 1, 2, 3, 4 }));

    [Theory]
    [InlineData("{\"Kind\":\"trait\",\"Epoch\":1,\"Step\":1,\"Metadata\":{},\"Sections\":null}", "sections missing")]
    [InlineData("{\"Kind\":\"trait\",\"Epoch\":1,\"Step\":1,\"Metadata\":null,\"Sections\":[]}", "metadata missing")]
    [InlineData("{\"Kind\":null,\"Epoch\":1,\"Step\":1,\"Metadata\":{},\"Sections\":[]}", "kind ''")]
    [InlineData("{\"Kind\":\"trait\",\"Epoch\":-5,\"Step\":1,\"Metadata\":{},\"Sections\":[]}", "epoch -5")]
    [InlineData("{\"Kind\":\"trait\",\"Epoch\":1,\"Step\":-1,\"Metadata\":{},\"Sections\":[]}", "step -1")]
    [InlineData("{\"Kind\":\"trait\",\"Epoch\":1,\"Step\":1,\"Metadata\":{},\"Sections\":[null]}", "without a name or hash")]
    [InlineData("{\"Kind\":\"trait\",\"Epoch\":1,\"Step\":1,\"Metadata\":{},\"Sections\":[{\"Name\":null,\"Length\":4,\"Sha256\":\"x\"}]}", "without a name or hash")]
    [InlineData("{\"Kind\":\"trait\",\"Epoch\":1,\"Step\":1,\"Metadata\":{},\"Sections\":[{\"Name\":\"m\",\"Length\":9999999999,\"Sha256\":\"x\"}]}", "runs past the end")]
    [InlineData("{\"Kind\":\"trait\",\"Epoch\":1,\"Step\":1,\"Metadata\":{\"seed\":null},\"Sections\":[]}", "without a value")]
    [InlineData("{\"Kind\":\"trait\",\"Epoch\":99999999999,\"Step\":1,\"Metadata\":{},\"Sections\":[]}", "not valid JSON")]
    [InlineData("[1,2,3]", "not valid JSON")]
    [InlineData("null", "header is empty")]
    public void A_self_consistent_file_with_a_malformed_header_is_a_checkpoint_format_error(string header, string expected) =>
        Assert.Contains(expected, Assert.Throws<CheckpointFormatException>(() => CheckpointCodec.Decode(SelfConsistent(header))).Message);

    [Fact]
    public void A_section_listed_twice_is_refused()
    {
        var header = $"{{\"Kind\":\"trait\",\"Epoch\":1,\"Step\":1,\"Metadata\":{{}},\"Sections\":[{{\"Name\":\"m\",\"Length\":4,\"Sha256\":\"{Hash4}\"}},{{\"Name\":\"m\",\"Length\":4,\"Sha256\":\"{Hash4}\"}}]}}";
        Assert.Contains("section 'm' twice", Assert.Throws<CheckpointFormatException>(() => CheckpointCodec.Decode(SelfConsistent(header, [1, 2, 3, 4, 1, 2, 3, 4]))).Message);
    }

    [Fact]
    public void Random_self_consistent_headers_never_escape_as_another_exception()
    {
        var random = new Random(11);
        string[] values = ["null", "0", "-1", "1", "2147483648", "\"\"", "\"x\"", "[]", "{}", "[null]", "1e400", "true", $"\"{Hash4}\""];
        string V() => values[random.Next(values.Length)];
        for (var i = 0; i < 3000; i++)
        {
            var header = $"{{\"Kind\":{V()},\"Epoch\":{V()},\"Step\":{V()},\"Score\":{V()},\"Metadata\":{(random.Next(3) == 0 ? V() : $"{{\"a\":{V()}}}")}," +
                $"\"Sections\":[{{\"Name\":{V()},\"Length\":{V()},\"Sha256\":{V()}}}]}}";
            DecodesOrRefuses(SelfConsistent(header, [1, 2, 3, 4]));
        }
    }
}
