using System.Text;

namespace Pipeline.Learning.Hf.Chat;

/// <summary>
/// Walks a parsed template and writes its output. Scoping follows Jinja2: each for-loop iteration and each macro call
/// opens a scope, <c>if</c> does not, so a <c>set</c> inside a loop is gone after it (hence <c>namespace()</c>).
/// </summary>
internal sealed class JinjaInterpreter
{
    private sealed class Scope(Scope? parent)
    {
        public readonly Dictionary<string, object?> Vars = new();
        public Scope? Parent { get; } = parent;

        public bool TryGet(string name, out object? value)
        {
            for (var s = this; s is not null; s = s.Parent)
                if (s.Vars.TryGetValue(name, out value)) return true;
            value = null;
            return false;
        }
    }

    private sealed class BreakSignal : Exception;
    private sealed class ContinueSignal : Exception;

    /// <summary>Bounds on one rendering: a template has no while loop, but nested ranges or a recursive macro could still run away.</summary>
    public const int MaxLoopIterations = 1_000_000;
    public const int MaxMacroDepth = 64;

    private readonly string _name;
    private int _iterations;
    private int _macroDepth;

    private JinjaInterpreter(string name) => _name = name;

    public static string Render(IReadOnlyList<Stmt> body, string name, IReadOnlyDictionary<string, object?> context, IReadOnlyDictionary<string, object?> globals)
    {
        var globalScope = new Scope(null);
        foreach (var (k, v) in globals) globalScope.Vars[k] = v;
        var contextScope = new Scope(globalScope);
        foreach (var (k, v) in context) contextScope.Vars[k] = v;
        var sb = new StringBuilder();
        var interpreter = new JinjaInterpreter(name);
        try
        {
            interpreter.ExecBody(body, new Scope(contextScope), sb);
        }
        catch (BreakSignal)
        {
            throw new ChatTemplateException(name, 0, "'break' outside a for loop");
        }
        catch (ContinueSignal)
        {
            throw new ChatTemplateException(name, 0, "'continue' outside a for loop");
        }
        return sb.ToString();
    }

    private ChatTemplateException At(Node node, string problem) => new(_name, node.Line, problem);

    private void ExecBody(IReadOnlyList<Stmt> body, Scope scope, StringBuilder sb)
    {
        foreach (var stmt in body) Exec(stmt, scope, sb);
    }

    private void Exec(Stmt stmt, Scope scope, StringBuilder sb)
    {
        try
        {
            ExecCore(stmt, scope, sb);
        }
        catch (JinjaError e)
        {
            throw At(stmt, e.Message);
        }
    }

    private void ExecCore(Stmt stmt, Scope scope, StringBuilder sb)
    {
        switch (stmt)
        {
            case OutputText t:
                sb.Append(t.Text);
                break;
            case OutputExpr o:
                sb.Append(Py.Str(Eval(o.Value, scope)));
                break;
            case IfStmt i:
                foreach (var (test, branch) in i.Branches)
                {
                    if (Py.Truthy(Eval(test, scope)))
                    {
                        ExecBody(branch, scope, sb);
                        return;
                    }
                }
                if (i.Else is not null) ExecBody(i.Else, scope, sb);
                break;
            case ForStmt f:
                ExecFor(f, scope, sb);
                break;
            case SetStmt s:
            {
                var value = Eval(s.Value, scope);
                if (s.Attribute is not null)
                {
                    scope.TryGet(s.Targets[0], out var target);
                    if (target is not Namespace ns)
                        throw At(s, $"cannot set attribute '{s.Attribute}' on '{s.Targets[0]}' ({Py.TypeName(target)}): only a namespace() can be changed");
                    ns[s.Attribute] = value;
                }
                else Assign(s.Targets, value, scope);
                break;
            }
            case SetBlockStmt b:
            {
                var inner = new StringBuilder();
                ExecBody(b.Body, scope, inner);
                scope.Vars[b.Target] = inner.ToString();
                break;
            }
            case MacroStmt m:
                scope.Vars[m.Name] = MakeMacro(m, scope);
                break;
            case BreakStmt:
                throw new BreakSignal();
            case ContinueStmt:
                throw new ContinueSignal();
            case GenerationStmt g:
                ExecBody(g.Body, scope, sb);
                break;
            default:
                throw At(stmt, $"unsupported statement {stmt.GetType().Name}");
        }
    }

    private static void Assign(IReadOnlyList<string> targets, object? value, Scope scope)
    {
        if (targets.Count == 1)
        {
            scope.Vars[targets[0]] = value;
            return;
        }
        var items = Py.Iterate(value);
        if (items.Count != targets.Count)
            throw new JinjaError($"cannot unpack {items.Count} values into {targets.Count} names ({string.Join(", ", targets)})");
        for (var k = 0; k < targets.Count; k++) scope.Vars[targets[k]] = items[k];
    }

    private void ExecFor(ForStmt f, Scope scope, StringBuilder sb)
    {
        var source = Eval(f.Iter, scope);
        if (source is null) throw At(f.Iter, "'NoneType' object is not iterable");
        var items = Py.Iterate(source);
        if (f.Filter is not null)
        {
            items = items.Where(item =>
            {
                var probe = new Scope(scope);
                Assign(f.Targets, item, probe);
                return Py.Truthy(Eval(f.Filter, probe));
            }).ToList();
        }
        var loop = new LoopContext(items);
        for (var k = 0; k < items.Count; k++)
        {
            if (++_iterations > MaxLoopIterations) throw At(f, $"the template ran more than {MaxLoopIterations} loop iterations in one rendering");
            loop.Index0 = k;
            var iteration = new Scope(scope);
            iteration.Vars["loop"] = loop;
            Assign(f.Targets, items[k], iteration);
            try
            {
                ExecBody(f.Body, iteration, sb);
            }
            catch (BreakSignal)
            {
                break;
            }
            catch (ContinueSignal)
            {
            }
        }
        if (items.Count == 0 && f.Else is not null) ExecBody(f.Else, scope, sb);
    }

    private Callable MakeMacro(MacroStmt m, Scope defining) => new(m.Name, (args, kwargs) =>
    {
        if (args.Count > m.Params.Count) throw new JinjaError($"macro '{m.Name}' takes {m.Params.Count} arguments, got {args.Count}");
        var scope = new Scope(defining);
        for (var k = 0; k < m.Params.Count; k++)
        {
            var (name, dflt) = m.Params[k];
            scope.Vars[name] = k < args.Count ? args[k]
                : kwargs.TryGetValue(name, out var kv) ? kv
                : dflt is not null ? Eval(dflt, scope)
                : new Undefined($"'{name}'");
        }
        foreach (var key in kwargs.Keys)
            if (m.Params.All(p => p.Name != key)) throw new JinjaError($"macro '{m.Name}' has no parameter '{key}'");
        if (_macroDepth >= MaxMacroDepth) throw new JinjaError($"macro '{m.Name}' nested more than {MaxMacroDepth} calls deep");
        _macroDepth++;
        try
        {
            var sb = new StringBuilder();
            ExecBody(m.Body, scope, sb);
            return sb.ToString();
        }
        finally
        {
            _macroDepth--;
        }
    });

    private object? Eval(Expr expr, Scope scope)
    {
        try
        {
            return EvalCore(expr, scope);
        }
        catch (JinjaError e)
        {
            throw At(expr, e.Message);
        }
    }

    private object? EvalCore(Expr expr, Scope scope)
    {
        switch (expr)
        {
            case Literal l:
                return l.Value;
            case NameRef n:
                return scope.TryGet(n.Name, out var v) ? v : new Undefined($"'{n.Name}'");
            case ListExpr list:
                return list.IsTuple ? new Tuple(list.Items.Select(i => Eval(i, scope))) : list.Items.Select(i => Eval(i, scope)).ToList();
            case DictExpr dict:
            {
                var d = new Dictionary<string, object?>();
                foreach (var (k, val) in dict.Items)
                {
                    var key = Eval(k, scope);
                    if (key is not string ks) throw new JinjaError($"only string keys are supported in a dict literal, got {Py.TypeName(key)}");
                    d[ks] = Eval(val, scope);
                }
                return d;
            }
            case GetAttr a:
                return Builtins.GetAttr(Eval(a.Target, scope), a.Name);
            case GetItem g:
                return Builtins.GetItem(Eval(g.Target, scope), Eval(g.Index, scope));
            case SliceExpr s:
                return Builtins.Slice(Eval(s.Target, scope), Opt(s.Start, scope), Opt(s.Stop, scope), Opt(s.Step, scope));
            case CallExpr c:
            {
                var target = Eval(c.Target, scope);
                var args = c.Args.Select(x => Eval(x, scope)).ToList();
                var kwargs = c.Kwargs.ToDictionary(p => p.Name, p => Eval(p.Value, scope));
                return target switch
                {
                    Callable f => f.Invoke(args, kwargs),
                    Undefined u => throw u.Fail(),
                    _ => throw new JinjaError($"'{Py.TypeName(target)}' object is not callable"),
                };
            }
            case FilterExpr f:
            {
                var value = Eval(f.Target, scope);
                var args = f.Args.Select(x => Eval(x, scope)).ToList();
                var kwargs = f.Kwargs.ToDictionary(p => p.Name, p => Eval(p.Value, scope));
                return Builtins.Filter(f.Name, value, args, kwargs);
            }
            case TestExpr t:
            {
                var value = Eval(t.Target, scope);
                var result = Builtins.Test(t.Name, value, t.Args.Select(x => Eval(x, scope)).ToList());
                return t.Negated ? !result : result;
            }
            case UnaryExpr u:
            {
                var value = Eval(u.Operand, scope);
                return u.Op switch
                {
                    "not" => !Py.Truthy(value),
                    "-" => value switch
                    {
                        long l => (object)(-l),
                        double d => -d,
                        bool b => b ? -1L : 0L,
                        Undefined un => throw un.Fail(),
                        _ => throw new JinjaError($"bad operand type for unary -: '{Py.TypeName(value)}'"),
                    },
                    _ => Py.IsNumber(value) ? value is bool b2 ? (b2 ? 1L : 0L) : value
                        : value is Undefined un2 ? throw un2.Fail() : throw new JinjaError($"bad operand type for unary +: '{Py.TypeName(value)}'"),
                };
            }
            case BinaryExpr b:
            {
                if (b.Op == "and")
                {
                    var left = Eval(b.Left, scope);
                    return Py.Truthy(left) ? Eval(b.Right, scope) : left;
                }
                if (b.Op == "or")
                {
                    var left = Eval(b.Left, scope);
                    return Py.Truthy(left) ? left : Eval(b.Right, scope);
                }
                return Builtins.Binary(b.Op, Eval(b.Left, scope), Eval(b.Right, scope));
            }
            case CondExpr c:
                return Py.Truthy(Eval(c.Test, scope)) ? Eval(c.Then, scope)
                    : c.Else is not null ? Eval(c.Else, scope) : new Undefined("the missing else branch of a conditional expression");
            default:
                throw new JinjaError($"unsupported expression {expr.GetType().Name}");
        }
    }

    private object? Opt(Expr? e, Scope scope) => e is null ? null : Eval(e, scope);
}
