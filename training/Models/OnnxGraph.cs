using System.Runtime.InteropServices;
using System.Text;

namespace PunkGrid.Training.Models;

/// <summary>An ONNX file that cannot be read as a model: the file and what was wrong.</summary>
public sealed class OnnxFormatException(string message) : Exception(message);

/// <summary>One node of an ONNX graph: its operator, the names it reads and writes, and its integer attributes.</summary>
public sealed record OnnxNode(string OpType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs, IReadOnlyDictionary<string, long[]> Ints)
{
    public long[] Attribute(string name) => Ints.TryGetValue(name, out var value) ? value : [];
}

/// <summary>A float tensor stored in the graph (a weight): its name, shape and values.</summary>
public sealed record OnnxTensor(string Name, long[] Dims, float[] Values);

/// <summary>
/// The parts of an ONNX model (protobuf <c>ModelProto</c>) that importing weights needs: the graph's nodes in order, with
/// their integer attributes, and its float initializers. A reader of the wire format for those fields only (no generated
/// classes, no ONNX Runtime): anything else in the file is skipped; a truncated or malformed file is refused naming it.
/// </summary>
public sealed class OnnxGraph
{
    private const int FloatType = 1;

    private OnnxGraph(IReadOnlyList<OnnxNode> nodes, IReadOnlyDictionary<string, OnnxTensor> initializers, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs)
    {
        Nodes = nodes;
        Initializers = initializers;
        Inputs = inputs;
        Outputs = outputs;
    }

    public IReadOnlyList<OnnxNode> Nodes { get; }

    public IReadOnlyDictionary<string, OnnxTensor> Initializers { get; }

    public IReadOnlyList<string> Inputs { get; }

    public IReadOnlyList<string> Outputs { get; }

    public OnnxTensor Initializer(string name) =>
        Initializers.TryGetValue(name, out var tensor) ? tensor : throw new OnnxFormatException($"the graph has no initializer '{name}'");

    public static OnnxGraph Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (IOException ex)
        {
            throw new OnnxFormatException($"{path}: {ex.Message}");
        }
        try
        {
            return Parse(bytes);
        }
        catch (OnnxFormatException ex)
        {
            throw new OnnxFormatException($"{path} is not an ONNX model this reader understands: {ex.Message}");
        }
    }

    public static OnnxGraph Parse(ReadOnlySpan<byte> model)
    {
        var nodes = new List<OnnxNode>();
        var initializers = new Dictionary<string, OnnxTensor>(StringComparer.Ordinal);
        var inputs = new List<string>();
        var outputs = new List<string>();
        var sawGraph = false;
        var reader = new WireReader(model);
        while (reader.Next(out var field, out var wire))
        {
            if (field == 7 && wire == WireReader.LengthDelimited)
            {
                sawGraph = true;
                var graph = new WireReader(reader.Bytes());
                while (graph.Next(out var graphField, out var graphWire))
                {
                    switch (graphField, graphWire)
                    {
                        case (1, WireReader.LengthDelimited):
                            nodes.Add(ReadNode(graph.Bytes()));
                            break;
                        case (5, WireReader.LengthDelimited):
                            var tensor = ReadTensor(graph.Bytes());
                            initializers[tensor.Name] = tensor;
                            break;
                        case (11 or 12, WireReader.LengthDelimited):
                            var name = ReadValueInfoName(graph.Bytes());
                            (graphField == 11 ? inputs : outputs).Add(name);
                            break;
                        default:
                            graph.Skip(graphWire);
                            break;
                    }
                }
            }
            else
            {
                reader.Skip(wire);
            }
        }
        return sawGraph ? new OnnxGraph(nodes, initializers, inputs, outputs) : throw new OnnxFormatException("no graph (field 7 of ModelProto)");
    }

    private static OnnxNode ReadNode(ReadOnlySpan<byte> bytes)
    {
        var (inputs, outputs, op) = (new List<string>(), new List<string>(), "");
        var ints = new Dictionary<string, long[]>(StringComparer.Ordinal);
        var reader = new WireReader(bytes);
        while (reader.Next(out var field, out var wire))
        {
            switch (field, wire)
            {
                case (1, WireReader.LengthDelimited): inputs.Add(reader.String()); break;
                case (2, WireReader.LengthDelimited): outputs.Add(reader.String()); break;
                case (4, WireReader.LengthDelimited): op = reader.String(); break;
                case (5, WireReader.LengthDelimited):
                    var (name, values) = ReadIntAttribute(reader.Bytes());
                    if (name.Length > 0 && values.Count > 0)
                    {
                        ints[name] = [.. values];
                    }
                    break;
                default: reader.Skip(wire); break;
            }
        }
        return new OnnxNode(op, inputs, outputs, ints);
    }

    private static (string Name, List<long> Values) ReadIntAttribute(ReadOnlySpan<byte> bytes)
    {
        var (name, values) = ("", new List<long>());
        var reader = new WireReader(bytes);
        while (reader.Next(out var field, out var wire))
        {
            switch (field, wire)
            {
                case (1, WireReader.LengthDelimited): name = reader.String(); break;
                case (3 or 8, WireReader.VarintWire): values.Add((long)reader.Varint()); break;
                case (8, WireReader.LengthDelimited): reader.PackedVarints(values); break;
                default: reader.Skip(wire); break;
            }
        }
        return (name, values);
    }

    private static OnnxTensor ReadTensor(ReadOnlySpan<byte> bytes)
    {
        var (dims, name, type) = (new List<long>(), "", 0L);
        float[]? values = null;
        List<float>? unpacked = null;
        var reader = new WireReader(bytes);
        while (reader.Next(out var field, out var wire))
        {
            switch (field, wire)
            {
                case (1, WireReader.VarintWire): dims.Add((long)reader.Varint()); break;
                case (1, WireReader.LengthDelimited): reader.PackedVarints(dims); break;
                case (2, WireReader.VarintWire): type = (long)reader.Varint(); break;
                case (4, WireReader.LengthDelimited) or (9, WireReader.LengthDelimited):
                    var raw = reader.Bytes();
                    if (raw.Length % 4 != 0)
                    {
                        throw new OnnxFormatException($"float data of {raw.Length} bytes (not a multiple of 4)");
                    }
                    values = MemoryMarshal.Cast<byte, float>(raw).ToArray(); // little-endian, as ONNX stores it
                    break;
                case (4, WireReader.Fixed32Wire): (unpacked ??= []).Add(BitConverter.Int32BitsToSingle((int)reader.Fixed32())); break;
                case (8, WireReader.LengthDelimited): name = reader.String(); break;
                default: reader.Skip(wire); break;
            }
        }
        values ??= unpacked?.ToArray() ?? [];
        if (type != FloatType)
        {
            throw new OnnxFormatException($"initializer '{name}' has data type {type}; only float (1) is read");
        }
        var expected = dims.Aggregate(1L, (a, d) => a * d);
        if (expected != values.Length)
        {
            throw new OnnxFormatException($"initializer '{name}' of shape [{string.Join(", ", dims)}] holds {values.Length} values, not {expected}");
        }
        return new OnnxTensor(name, [.. dims], values);
    }

    private static string ReadValueInfoName(ReadOnlySpan<byte> bytes)
    {
        var reader = new WireReader(bytes);
        while (reader.Next(out var field, out var wire))
        {
            if (field == 1 && wire == WireReader.LengthDelimited)
            {
                return reader.String();
            }
            reader.Skip(wire);
        }
        return "";
    }

    /// <summary>Protocol-buffer wire format over a span, every length checked against what is left.</summary>
    private ref struct WireReader(ReadOnlySpan<byte> bytes)
    {
        public const int VarintWire = 0;
        public const int Fixed64Wire = 1;
        public const int LengthDelimited = 2;
        public const int Fixed32Wire = 5;

        private readonly ReadOnlySpan<byte> bytes = bytes;
        private int position;

        public bool Next(out int field, out int wire)
        {
            if (position >= bytes.Length)
            {
                (field, wire) = (0, 0);
                return false;
            }
            var key = ReadVarint();
            (field, wire) = ((int)(key >> 3), (int)(key & 7));
            return field > 0 ? true : throw new OnnxFormatException($"field number 0 at byte {position}");
        }

        public ulong Varint() => ReadVarint();

        public uint Fixed32()
        {
            var value = BitConverter.ToUInt32(Take(4));
            return value;
        }

        public ReadOnlySpan<byte> Bytes()
        {
            var length = ReadVarint();
            return length > (ulong)(bytes.Length - position)
                ? throw new OnnxFormatException($"a field of {length} bytes at byte {position} runs past the end ({bytes.Length - position} left)")
                : Take((int)length);
        }

        public string String() => Encoding.UTF8.GetString(Bytes());

        public void PackedVarints(List<long> into)
        {
            var packed = new WireReader(Bytes());
            while (packed.position < packed.bytes.Length)
            {
                into.Add((long)packed.ReadVarint());
            }
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case VarintWire: ReadVarint(); break;
                case Fixed64Wire: Take(8); break;
                case LengthDelimited: Bytes(); break;
                case Fixed32Wire: Take(4); break;
                default: throw new OnnxFormatException($"wire type {wire} at byte {position}");
            }
        }

        private ReadOnlySpan<byte> Take(int count)
        {
            if (count > bytes.Length - position)
            {
                throw new OnnxFormatException($"{count} bytes wanted at byte {position}, {bytes.Length - position} left");
            }
            var slice = bytes.Slice(position, count);
            position += count;
            return slice;
        }

        private ulong ReadVarint()
        {
            ulong result = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (position >= bytes.Length)
                {
                    throw new OnnxFormatException("a varint runs past the end");
                }
                var b = bytes[position++];
                result |= (ulong)(b & 0x7f) << shift;
                if (b < 0x80)
                {
                    return result;
                }
            }
            throw new OnnxFormatException($"a varint longer than 10 bytes at byte {position}");
        }
    }
}
